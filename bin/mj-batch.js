#!/usr/bin/env node
'use strict';
// The CLI is compiled to dist/ by `npm install` (the `prepare` script) or `npm run build`.
// The SDK versions are pinned by package-lock.json; its notice about future releases needing Node 22 is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('mj-batch is not built yet: run `npm install` (or `npm run build`) in ' + path.dirname(__dirname) + '\n');
  process.exit(1);
}
require(entry)
  .main(process.argv)
  .catch((err) => {
    process.stderr.write(`mj-batch: ${err && err.message ? err.message : err}\n`);
    process.exitCode = typeof err?.exitCode === 'number' ? err.exitCode : 1;
  });
