#!/usr/bin/env node
// The lab's control CLI (see lab/cli.ts). Build first: npm run build.
import '../dist/lab/cli.js';
