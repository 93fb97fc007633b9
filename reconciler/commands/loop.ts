// `fleetspec reconcile` (one tick) and `fleetspec daemon` (ticks on a schedule): the GitOps loop
// behind a command line. Settings come from options and the environment (loop/config.ts).
import { join } from 'node:path';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { GitError, SpecRepo } from '../git/repo.js';
import { GitHub, GitHubError } from '../github/client.js';
import { ConfigError, loopConfig, type LoopConfig, type LoopOptions } from '../loop/config.js';
import { pullTickets, type PulledTicket } from '../loop/tickets.js';
import { countBySeverity, formatDiagnostic } from '../diagnostics.js';
import { loadSpecs } from '../specs/load.js';
import { acquireLeader, LockHeld } from '../state/lock.js';
import { DEFAULT_SCHEDULE, formatTickLog, scheduleProblem, startDaemon, type Daemon, type TickLog } from '../loop/daemon.js';
import { webhookHandler } from '../webhooks/receiver.js';
import { webhookSecret } from '../webhooks/secret.js';
import { tick, type TickReport } from '../loop/tick.js';
import { windowWake } from '../loop/phases/windows.js';
import { formatDuration, scheduleGapMs, STILL_RUNNING_EVERY_MS, TickWatch } from '../loop/watchdog.js';
import { startSystemdWatchdog } from '../loop/sd-notify.js';
import { signalRunningTerraform } from '../stacks/terraform.js';
import type { Db } from '../state/db.js';
import type { RunTrigger } from '../state/ledger.js';
import type { Output } from './output.js';
import { logLine } from '../escape.js';
import { Notifier } from '../notify/index.js';
import { engineOptions, type ConnectOptions } from './plan.js';
import { withStore } from './store.js';
import { redactUrl } from '../redact.js';
import { Health, parseListen, serveMetrics, type MetricsServer } from '../metrics/server.js';
import type { FleetMetrics } from '../metrics/registry.js';
import { collectUsage, recordUsage } from '../metrics/usage.js';

export interface ReconcileOptions extends LoopOptions, ConnectOptions {
  format: 'text' | 'json';
  quiet?: boolean;
}

export interface DaemonCommandOptions extends ReconcileOptions {
  schedule: string;
  logFormat: 'text' | 'json';
  immediately?: boolean;
  /** host:port on loopback for /metrics and /healthz (FLEETSPEC_LISTEN); off when absent. */
  listen?: string;
}

export interface Loop {
  config: LoopConfig;
  git: SpecRepo;
  github: GitHub;
}

/** A git or GitHub failure as one message with what to do, or undefined for anything else. */
export function explain(err: unknown): { message: string; hint?: string } | undefined {
  if (err instanceof GitError || err instanceof GitHubError) return { message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  return undefined;
}

export async function openLoop(db: Db, opts: LoopOptions, out: Output, progress: boolean, onGitHub?: (message: string) => void): Promise<Loop> {
  const config = await loopConfig(db, opts);
  const log = (m: string) => progress && out.stderr(m);
  // GitHub's retries and rate-limit waits: warnings (journal priority 4).
  const githubLog = (m: string) => {
    out.stderr(m, 'warning');
    onGitHub?.(m);
  };
  const github = new GitHub({ owner: config.owner, repo: config.repo, token: config.token, baseUrl: config.githubApi, log: githubLog });
  const git = await SpecRepo.open({ dir: config.repoDir, url: config.gitUrl, token: config.token, author: config.author, progress: log, ...(config.deadlines.gitMs ? { timeoutMs: config.deadlines.gitMs } : {}) });
  return { config, git, github };
}

export async function runTick(db: Db, loop: Loop, opts: ConnectOptions, out: Output, trigger: RunTrigger, progress: boolean, watch?: TickWatch): Promise<TickReport> {
  const specs = join(loop.config.repoDir, loop.config.specsPath);
  const quiet: Output = { ...out, stderr: (l) => progress && out.stderr(l) };
  const { options: engine, close } = await engineOptions(db, specs, 'live', opts, quiet);
  // What the engine reports (terraform's progress, a model pull's percentage) is also what the tick last did, for its still-running lines.
  const options = watch ? { ...engine, progress: (m: string) => (watch.step(logLine(m)), engine.progress(m)) } : engine;
  // The narratives' token usage is recorded under the tick's run, whichever command ran it.
  const usage = collectUsage();
  let run: number | undefined;
  try {
    const report = await tick({
      db,
      repoKey: loop.config.fullName,
      git: loop.git,
      github: loop.github,
      ...(loop.config.branch ? { branch: loop.config.branch } : {}),
      specsPath: loop.config.specsPath,
      ...(loop.config.llm ? { llm: loop.config.llm } : {}),
      ...(loop.config.llmProblem ? { llmProblem: loop.config.llmProblem } : {}),
      findings: loop.config.findings,
      dashboard: loop.config.dashboard,
      ...(loop.config.notify.length ? { notify: new Notifier(loop.config.notify, { web: loop.config.webUrl }) } : {}),
      engine: options,
      trigger,
      ...(watch ? { watch } : {}),
      ...(loop.config.deadlines.llmMs ? { llmBudgetMs: loop.config.deadlines.llmMs } : {}),
      progress: (m) => progress && out.stderr(logLine(m)),
    });
    run = report.run;
    return report;
  } catch (err) {
    run = (err as { report?: TickReport }).report?.run;
    throw err;
  } finally {
    const used = usage.take();
    if (run !== undefined && used.length) {
      await recordUsage(db, run, used).catch((err: unknown) => out.stderr(`fleetspec: the narratives' token usage of run ${run} was not recorded: ${logLine(err instanceof Error ? err.message : String(err))}`, 'warning'));
    }
    await close();
  }
}

/** What `reconcile` prints of a tick, one line per thing it did; every remote or spec word through logLine. */
export function printReport(r: TickReport, out: Output): void {
  for (const c of r.commands) out.stdout(`command /fleetspec ${c.command} on #${c.pr} by ${logLine(c.by)}: ${c.state}${c.resultPr ? ` (#${c.resultPr})` : ''}${c.state !== 'done' ? `: ${logLine(c.detail)}` : ''}`);
  for (const b of r.branches) out.stdout(`branch ${logLine(b.branch)} ${b.sha.slice(0, 7)}: PR #${b.pr} ${b.action} (${b.status})`);
  for (const m of r.main) out.stdout(`main ${m.sha.slice(0, 7)}: ${m.outcome}${m.pr ? ` (#${m.pr})` : ''}${m.detail ? `: ${logLine(m.detail)}` : ''}`);
  for (const h of r.held ?? []) out.stdout(`${h.sha ? `main ${h.sha.slice(0, 7)}${h.pr ? ` (#${h.pr})` : ''}` : `drift ${h.kind ?? '?'}`}: held by sync window ${logLine(h.window)}: ${logLine(h.detail)}`);
  for (const d of r.drift) out.stdout(`drift ${d.kind}: PR #${d.pr} ${d.action}`);
  for (const f of r.findings) out.stdout(`finding ${logLine(f.key)}: ${f.id}${f.pr ? ` PR #${f.pr}` : ''} ${f.action}`);
  for (const s of r.scale ?? []) out.stdout(`scale ${logLine(s.vm)}: ${s.pr ? `PR #${s.pr} ` : ''}${s.action}${s.finding ? `: ${logLine(s.finding.message)}` : ''}`);
  for (const p of r.pulled) out.stdout(`ticket ${p.id} from issue #${p.issue}: ${p.pr ? `PR #${p.pr} opened` : `${p.action}${p.detail ? ` (${logLine(p.detail)})` : ''}`}`);
  for (const e of r.errors) out.stdout(`error ${logLine(e)}`, 'err');
  out.stdout(`run ${r.run} ${r.state}: ${logLine(r.reason)}`, r.state === 'FAILED' ? 'err' : 'info');
}

/**
 * `fleetspec tickets pull`: what a tick does for tickets opened on GitHub, alone. Holds the
 * leader lock, so it never races a running daemon into pulling an issue twice.
 */
export function ticketsPullCommand(opts: ReconcileOptions, out: Output): Promise<ExitCode> {
  return withStore(out, 'tickets pull', async (db) => {
    let pulled: PulledTicket[];
    try {
      const loop = await openLoop(db, opts, out, !opts.quiet);
      const lock = await acquireLeader(db, loop.config.fullName);
      try {
        const heads = await loop.git.fetch();
        const main = loop.config.branch ?? (await loop.github.defaultBranch());
        const mainSha = heads.get(main);
        if (!mainSha) throw new ConfigError(`the repository has no branch "${main}"`, 'set FLEETSPEC_BRANCH to its default branch');
        await loop.git.checkout(mainSha);
        const specs = await loadSpecs(join(loop.config.repoDir, loop.config.specsPath));
        if (countBySeverity(specs.diagnostics).errors) {
          for (const d of specs.diagnostics) out.stderr(formatDiagnostic(d, out.color));
          out.stderr(`fleetspec tickets pull: the specs on ${logLine(main)} are invalid; nothing was pulled`);
          return EXIT.INVALID;
        }
        const progress = (m: string) => !opts.quiet && out.stderr(logLine(m));
        pulled = await pullTickets({ git: loop.git, github: loop.github, specsPath: loop.config.specsPath, progress }, main, mainSha, heads, specs);
      } finally {
        await lock.release();
      }
    } catch (err) {
      const known = explain(err);
      if (!known) throw err;
      out.stderr(`fleetspec tickets pull: ${logLine(known.message)}`);
      if (known.hint) out.stderr(`  hint: ${logLine(known.hint)}`);
      return EXIT.ERROR;
    }
    if (opts.format === 'json') out.stdout(JSON.stringify(pulled, null, 2));
    else if (pulled.length === 0) out.stdout('No issue to pull: every open issue labelled "ticket" is fleetspec\'s own or already pulled.');
    else for (const p of pulled) out.stdout(`issue #${p.issue} -> ${p.id}: ${p.pr ? `PR #${p.pr} on ${logLine(p.branch)}` : `${p.action}${p.detail ? ` (${logLine(p.detail)})` : ''}`}`);
    return EXIT.OK;
  });
}

export function reconcileCommand(opts: ReconcileOptions, out: Output): Promise<ExitCode> {
  return withStore(out, 'reconcile', async (db) => {
    let loop: Loop;
    let noted: TickWatch | undefined;
    try {
      loop = await openLoop(db, opts, out, !opts.quiet, (m) => noted?.step(m));
    } catch (err) {
      const known = explain(err);
      if (!known) throw err;
      out.stderr(`fleetspec reconcile: ${logLine(known.message)}`, 'err');
      if (known.hint) out.stderr(`  hint: ${logLine(known.hint)}`, 'err');
      return EXIT.ERROR;
    }
    let report: TickReport;
    // One tick by hand has a budget only when one is set. SIGTERM or Ctrl-C stops it at its next safe
    // point (an apply in progress finishes first, with its report); a second one exits at once.
    const stop = new AbortController();
    const tickMs = loop.config.deadlines.tickMs;
    const watch = new TickWatch({ ...(tickMs ? { budgetMs: tickMs } : {}), stop: stop.signal });
    noted = watch;
    if (!opts.quiet) watch.report(loop.config.deadlines.stillRunningMs ?? STILL_RUNNING_EVERY_MS, (m) => out.stderr(`fleetspec reconcile: ${logLine(m)}`));
    const onSignal = (name: string) => () => {
      if (stop.signal.aborted) {
        out.stderr(`fleetspec reconcile: ${name} again, exiting at once (the next run records this one FAILED)`);
        process.exit(EXIT.ERROR);
      }
      const applying = watch.applying !== undefined;
      out.stderr(`fleetspec reconcile: ${name}: stopping ${applying ? 'after the apply in progress and its report' : 'at the next safe point'}`);
      stop.abort();
    };
    const term = onSignal('SIGTERM');
    const int = onSignal('SIGINT');
    process.on('SIGTERM', term);
    process.on('SIGINT', int);
    try {
      report = await runTick(db, loop, opts, out, 'manual', !opts.quiet, watch);
    } catch (err) {
      if (err instanceof LockHeld) {
        // Another reconciler (the daemon, a standby) has the repository: a notice, not an error.
        out.stderr(`fleetspec reconcile: ${logLine(err.message)}`, 'notice');
        if (err.hint) out.stderr(`  hint: ${logLine(err.hint)}`, 'notice');
        return err.exitCode;
      }
      const partial = (err as { report?: TickReport }).report;
      if (partial && opts.format === 'json') out.stdout(JSON.stringify(partial, null, 2));
      out.stderr(`fleetspec reconcile: ${logLine(err instanceof Error ? err.message : String(err))}${partial ? ` (run ${partial.run} ${partial.state})` : ''}`, 'err');
      const hint = explain(err)?.hint;
      if (hint) out.stderr(`  hint: ${logLine(hint)}`, 'err');
      return EXIT.ERROR;
    } finally {
      process.off('SIGTERM', term);
      process.off('SIGINT', int);
    }
    const failed = report.state === 'FAILED';
    if (opts.format === 'json') out.stdout(JSON.stringify(report, null, 2), failed ? 'err' : 'info');
    else printReport(report, out);
    return failed ? EXIT.ERROR : EXIT.OK;
  });
}

export async function daemonCommand(opts: DaemonCommandOptions, out: Output, signals: NodeJS.EventEmitter = process, exit: (code: number) => void = (code) => process.exit(code)): Promise<ExitCode> {
  const problem = scheduleProblem(opts.schedule);
  if (problem) {
    out.stderr(`fleetspec daemon: --schedule "${opts.schedule}" is not a cron expression: ${problem}`, 'err');
    out.stderr(`  hint: five fields, minute hour day month weekday; the default is "${DEFAULT_SCHEDULE}" (every 5 minutes)`, 'err');
    return EXIT.INVALID;
  }
  const listenText = opts.listen ?? (process.env['FLEETSPEC_LISTEN'] || undefined);
  const listen = listenText === undefined ? undefined : parseListen(listenText);
  if (listen && 'problem' in listen) {
    out.stderr(`fleetspec daemon: --listen ${logLine(listenText!)} refused: ${logLine(listen.problem)}`, 'err');
    out.stderr('  hint: give a loopback address such as 127.0.0.1:9464 (--listen or FLEETSPEC_LISTEN), or leave it out to serve nothing', 'err');
    return EXIT.INVALID;
  }
  // From the start: opening the store and a first clone can take a while, and systemd counts from the start too.
  const systemd = startSystemdWatchdog({ onError: (m) => out.stderr(`fleetspec daemon: ${m}`, 'err') });
  const code = await withStore(out, 'daemon', async (db) => {
    let loop: Loop;
    let running: Daemon | undefined;
    try {
      // A GitHub retry or rate-limit wait is also what the running tick last did (its still-running lines say it).
      loop = await openLoop(db, opts, out, false, (m) => running?.current()?.step(m));
    } catch (err) {
      const known = explain(err);
      if (!known) throw err;
      out.stderr(`fleetspec daemon: cannot start: ${logLine(known.message)}`, 'err');
      if (known.hint) out.stderr(`  hint: ${logLine(known.hint)}`, 'err');
      return EXIT.ERROR;
    }
    // On systemd's journal each line carries its priority and no timestamp (journald stamps it); JSON lines keep their "time".
    const stamp = !out.journal?.stdout;
    const log = (e: TickLog) => out.stdout(opts.logFormat === 'json' ? JSON.stringify(e) : formatTickLog(e, { timestamp: stamp }), e.level === 'error' ? 'err' : 'info');
    const { tickMs, applyMs, stillRunningMs } = loop.config.deadlines;
    // --listen: prom-client is loaded only then; the server is up before the first tick, so a scrape sees it.
    let served: { metrics: FleetMetrics; health: Health; server: MetricsServer } | undefined;
    let webhooks = '';
    let self: string | undefined;
    let windowTimer: NodeJS.Timeout | undefined;
    if (listen) {
      // GitHub's deliveries at POST /webhook, when the store has the secret; a delivery before the daemon starts is answered 503.
      const secret = await webhookSecret(db);
      const webhook =
        'off' in secret
          ? `webhooks are off: ${secret.off}`
          : webhookHandler({
              secret: secret.secret,
              poke: (reason, trigger) => running?.poke({ reason, trigger }) ?? 'stopped',
              log: (level, m) => out.stderr(`fleetspec daemon: ${m}`, level),
              self: () => self,
            });
      // Who fleetspec is on GitHub (asked once; the first tick asks too): its own actions' deliveries start no tick.
      if (!('off' in secret)) {
        void loop.github.me().then(
          (me) => {
            self = me.login;
            out.stderr(`fleetspec daemon: webhooks: deliveries about what @${logLine(me.login)} (fleetspec's own account) did start no tick, but for the pull requests it opens`);
          },
          () => undefined,
        );
      }
      webhooks = 'off' in secret ? `webhooks are off (polling only): ${logLine(secret.off)}` : `taking GitHub webhooks at POST /webhook (secret ${secret.path})`;
      const { FleetMetrics } = await import('../metrics/registry.js');
      const metrics = new FleetMetrics();
      const health = new Health(scheduleGapMs(opts.schedule));
      try {
        served = { metrics, health, server: await serveMetrics(listen, metrics, health, webhook) };
      } catch (err) {
        metrics.close();
        out.stderr(`fleetspec daemon: cannot serve metrics on ${logLine(listenText!)}: ${logLine(err instanceof Error ? err.message : String(err))}`, 'err');
        out.stderr('  hint: another process may have that port; pick another with --listen or FLEETSPEC_LISTEN', 'err');
        return EXIT.ERROR;
      }
      // Before the line that names the URL: whoever waits for that line sees this one too.
      out.stderr(`fleetspec daemon: ${webhooks}`, webhooks.startsWith('webhooks are off') ? 'warning' : 'info');
      out.stderr(`fleetspec daemon: serving /metrics and /healthz on ${served.server.url}`);
    }
    /** One tick, measured: its metrics, when served (runTick records the narratives' token usage). */
    const measuredTick = async (watch: TickWatch, trigger: RunTrigger): Promise<TickReport> => {
      const started = Date.now();
      try {
        const report = await runTick(db, loop, opts, out, trigger, false, watch);
        // A change a sync window holds goes when the window lets it go, not at the next scheduled tick after that.
        clearTimeout(windowTimer);
        const wake = windowWake(report.held, new Date());
        if (wake !== undefined) {
          windowTimer = setTimeout(() => running?.poke({ reason: 'a sync window lets a held change go', trigger: 'cron' }), wake);
          windowTimer.unref();
        }
        if (served) {
          const ok = report.state === 'DONE' || report.state === 'BLOCKED';
          if (ok) served.health.succeeded();
          else served.health.failed(`run ${report.run} ${report.state}: ${report.reason}`);
          await served.metrics.tickEnded(report, Date.now() - started, db, loop.config.fullName).catch((err: unknown) => out.stderr(`fleetspec daemon: metrics not updated: ${logLine(err instanceof Error ? err.message : String(err))}`, 'warning'));
        }
        return report;
      } catch (err) {
        const report = (err as { report?: TickReport }).report;
        if (served && err instanceof LockHeld) {
          served.metrics.tickStoodBy(Date.now() - started);
          served.health.succeeded();
        } else if (served) {
          served.metrics.tickFailed(Date.now() - started, report);
          served.health.failed(`tick failed: ${redactUrl(err instanceof Error ? err.message : String(err))}`);
        }
        throw err;
      }
    };
    const daemon = startDaemon({
      schedule: opts.schedule,
      immediately: opts.immediately ?? false,
      budgets: { ...(tickMs ? { tickMs } : {}), ...(applyMs ? { applyMs } : {}) },
      tick: (_signal, watch, poke) => measuredTick(watch, poke?.trigger ?? 'cron'),
      log,
      note: (m) => out.stderr(`fleetspec daemon: ${logLine(m)}`),
      ...(stillRunningMs ? { stillRunningEveryMs: stillRunningMs } : {}),
      onWedge: () => {
        // The line is logged; a fresh process (systemd's Restart=on-failure) is the only way to get the lock, the checkout and the connections back.
        out.stderr('fleetspec daemon: a tick is wedged; exiting so that a fresh process takes over (the next start records its run FAILED)', 'err');
        signalRunningTerraform('SIGTERM');
        exit(EXIT.ERROR);
      },
    });
    running = daemon;
    const b = daemon.budgets;
    out.stderr(
      `fleetspec daemon: reconciling ${loop.config.fullName} (${loop.config.gitUrl}) on "${opts.schedule}"; each tick has ${formatDuration(b.tickMs)}, an apply ${formatDuration(b.applyMs)}; SIGTERM stops a tick at once unless it applies${systemd ? `; systemd's watchdog told every ${formatDuration(systemd.intervalMs)}` : ''}`,
    );
    let stopping = false;
    const onSignal = (name: string) => () => {
      if (stopping) {
        // A second signal: leave now; the next start marks the run abandoned.
        out.stderr(`fleetspec daemon: ${name} again, exiting at once`, 'warning');
        exit(EXIT.ERROR);
        return;
      }
      stopping = true;
      const applying = daemon.current()?.applying;
      out.stderr(`fleetspec daemon: ${name}: stopping${applying !== undefined ? ` after the apply in progress (up to ${formatDuration(Math.max(0, applying + b.applyMs - Date.now()))})` : ''}`);
      void daemon.stop();
    };
    const term = onSignal('SIGTERM');
    const int = onSignal('SIGINT');
    signals.on('SIGTERM', term);
    signals.on('SIGINT', int);
    try {
      await daemon.stopped;
    } finally {
      clearTimeout(windowTimer);
      signals.off('SIGTERM', term);
      signals.off('SIGINT', int);
      // The metrics server stops with the daemon.
      await served?.server.close();
      served?.metrics.close();
    }
    out.stderr(`fleetspec daemon: stopped after ${daemon.ticks()} tick${daemon.ticks() === 1 ? '' : 's'}`);
    return EXIT.OK;
  });
  systemd?.stop();
  // A call given up on (a stalled connection) must not keep the process: it has stopped, so it exits.
  setTimeout(() => exit(code), 1_000).unref();
  return code;
}
