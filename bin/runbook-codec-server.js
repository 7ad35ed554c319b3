#!/usr/bin/env node
import { main } from '../dist/codec-server/main.js';

main();
