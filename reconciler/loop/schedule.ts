// The daemon's default schedule, in a module of its own so that `fleetspec --help` can show it
// without loading the daemon (node-cron and the tick's machinery).
export const DEFAULT_SCHEDULE = '*/5 * * * *';
