'use strict';

// The "build": copy src/ to dist/ (there is nothing to compile; a real app would
// transpile or bundle here). dist/ also carries the local drydock-health package,
// which node_modules/drydock-health links to.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');

fs.rmSync(dist, { recursive: true, force: true });
fs.cpSync(src, dist, { recursive: true });
console.log(`built ${path.relative(root, dist)}/ from ${path.relative(root, src)}/`);
