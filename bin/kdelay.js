#!/usr/bin/env node
// Thin shim: the CLI is compiled and bundled into dist/kdelay.mjs by
// `npm ci` (the prepare script: tsc, then scripts/bundle-cli.mjs).
import { main } from '../dist/kdelay.mjs';

process.exitCode = await main(process.argv.slice(2));
