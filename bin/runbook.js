#!/usr/bin/env node
import '../dist/starter/cli.js';
