/** kdelay serve's worker thread when kdelay runs from dist/host/ (tests, scripts): driver/serve.ts starts this file. */
import { runServeWorker } from './serve-worker.js';

void runServeWorker();
