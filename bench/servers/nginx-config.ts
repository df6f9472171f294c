// The nginx.conf of the `nginx` row: `proxy_pass` to the bench upstream as
// the ceiling of a C proxy. One worker (pinned with the master, through
// taskset, to the CPU of the server under test), no daemon, every path inside
// a temporary prefix (`nginx -p`), no access log, keep-alive connections to
// the upstream as to the client. No authentication: nginx cannot verify L402.

/** What {@link nginxConfig} needs. */
export interface NginxConfigOptions {
  /** The temporary prefix folder: pid, lock and temp files go there. */
  prefix: string;
  /** Where nginx listens (127.0.0.1). */
  port: number;
  /** The bench upstream's port (127.0.0.1). */
  upstreamPort: number;
  /** Idle upstream connections kept by the worker (nginx's `keepalive`). */
  upstreamKeepalive?: number;
  /** Modules nginx was built without (`nginx -V`: `--without-http_<name>_module`), whose directives must not appear. */
  without?: ReadonlySet<string>;
}

/** The temp-path directives of http modules that nginx creates folders for at start-up (compiled-in paths under /var otherwise). */
const TEMP_PATHS: readonly { directive: string; module?: string; folder: string }[] = [
  { directive: 'client_body_temp_path', folder: 'client-body' },
  { directive: 'proxy_temp_path', module: 'proxy', folder: 'proxy' },
  { directive: 'fastcgi_temp_path', module: 'fastcgi', folder: 'fastcgi' },
  { directive: 'uwsgi_temp_path', module: 'uwsgi', folder: 'uwsgi' },
  { directive: 'scgi_temp_path', module: 'scgi', folder: 'scgi' },
];

/**
 * The configuration text; run it as `nginx -p <prefix> -c <prefix>/nginx.conf -e stderr`.
 * @param o - prefix, ports, keep-alive pool
 * @returns nginx.conf
 */
export function nginxConfig(o: NginxConfigOptions): string {
  const q = (path: string): string => `"${path.replace(/["\\]/g, '\\$&')}"`;
  const temps = TEMP_PATHS.filter((t) => t.module === undefined || !(o.without?.has(t.module) ?? false)).map(
    (t) => `  ${t.directive} ${q(`${o.prefix}/${t.folder}`)};`,
  );
  return `# Generated for one benchmark run (bench/servers/nginx-config.ts).
daemon off;
master_process on;
worker_processes 1;
pid ${q(`${o.prefix}/nginx.pid`)};
lock_file ${q(`${o.prefix}/nginx.lock`)};
error_log stderr warn;

events {
  worker_connections 4096;
}

http {
  access_log off;
${temps.join('\n')}
  # As the other rows' servers: keep client connections open as long as the run lasts.
  keepalive_timeout 120s;
  keepalive_requests 1000000;

  upstream bench_upstream {
    server 127.0.0.1:${o.upstreamPort};
    keepalive ${o.upstreamKeepalive ?? 256};
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }

  server {
    listen 127.0.0.1:${o.port};
    location / {
      proxy_pass http://bench_upstream;
      # Keep-alive to the upstream needs HTTP/1.1 and no "Connection: close".
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}
