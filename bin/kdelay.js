#!/usr/bin/env node
// Thin shim: the CLI is compiled to dist/ by `npm ci` (the prepare script).
import { main } from '../dist/host/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
