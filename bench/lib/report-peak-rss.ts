// Preloaded into micro-benchmark processes: prints their peak RSS on exit, so
// that the runner can report it next to their figures.
process.on('exit', () => {
  process.stderr.write(`#peak-rss-kb ${process.resourceUsage().maxRSS}\n`);
});
