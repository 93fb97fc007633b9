// A worker thread for loading a large fleet (load.ts): reads and parses the spec files it is
// given, exactly as the loading thread does (readSpecFile), and sends back what travels between
// threads (source.ts's ParsedFile). A file it cannot read at all is sent back as `unreadable`, and
// the loading thread reads it again itself, so the error is the one an in-thread read throws.
import { parentPort, workerData } from 'node:worker_threads';
import { readSpecFile, toParsedFile, type ParsedFile } from './source.js';

export type WorkerRead = ParsedFile | { file: string; unreadable: true };

const files = (workerData as { files: string[] }).files;
const results: WorkerRead[] = files.map((file) => {
  try {
    return toParsedFile(file, readSpecFile(file));
  } catch {
    return { file, unreadable: true };
  }
});
parentPort!.postMessage(results);
