// `express4` is Express 4 installed under an alias (devDependency
// "express4": "npm:express@^4"), so that the adapter is tested on 4 and 5.
// Its API as used by the tests is the one @types/express describes.
declare module 'express4' {
  import express from 'express';
  export default express;
}
