/** `dapdeck serve`: the web app and the WebSocket probe server, until Ctrl-C. */
import type { Command } from 'commander';
import { DEFAULT_REATTACH_GRACE_S, serve, ServeOptionError } from '../serve/server';
import { UsageError, parseNumber } from './parse';
import { loadChipDatabase } from '../targets';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the web app and a WebSocket probe server (emulated boards, simulated and USB probes)')
    .option('--host <address>', 'address to listen on (anything but loopback requires a token)', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free one)', '7878')
    .option('--token <secret>', 'require this token (generated when listening beyond loopback; never empty)')
    .option(
      '--allow-host <name>',
      'a further name clients reach this server by (checked against the Host header; repeatable)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option('--target-file <file.yaml>', 'offer the chips of a probe-rs target description in the app too (repeatable; installed packs are always offered)', (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .option('--reattach-grace <seconds>', 'keep a page\'s board running this long after its socket drops, for a reload to reattach (0 = close at once)', String(DEFAULT_REATTACH_GRACE_S))
    .action(async (opts: { host: string; port: string; token?: string; allowHost?: string[]; reattachGrace: string; targetFile?: string[] }) => {
      // A target file that does not read is said now, not at the first page load.
      loadChipDatabase({ targetFiles: opts.targetFile });
      const port = parseNumber(opts.port, '--port');
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, got "${opts.port}"`);
      const grace = parseNumber(opts.reattachGrace, '--reattach-grace (seconds)', { max: 3600 });
      let running;
      try {
        running = await serve({ host: opts.host, port, token: opts.token, allowHosts: opts.allowHost, reattachGraceSeconds: grace, targetFiles: opts.targetFile });
      } catch (err) {
        if (err instanceof ServeOptionError) throw new UsageError(err.message);
        throw err;
      }
      console.log(`dapdeck serve: listening on ${running.url}${running.token ? `?token=${running.token}` : ''}`);
      await new Promise<void>((done) => {
        const stop = () => void running.close().then(done);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
