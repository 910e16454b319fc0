// Worker-thread entry: runs text analysis off the main thread, so an API or worker event loop never stalls.
// It loads the model first and says when it is ready: no analysis's time budget pays for the start.
import { parentPort } from 'node:worker_threads';
import { analyzeText } from './text-analysis.ts';

analyzeText('ready');
parentPort?.postMessage({ ready: true });

parentPort?.on('message', ({ id, text }: { id: number; text: string }) => {
  try {
    parentPort?.postMessage({ id, result: analyzeText(text) });
  } catch (error) {
    parentPort?.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
