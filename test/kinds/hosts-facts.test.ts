import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { cpus, hostname, totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { breaches, FACTS_SCRIPT, FactsError, parseDf, parseFacts, parseListening, parseSize, parseThreshold } from '../../reconciler/kinds/hosts/facts.js';

describe('host facts', () => {
  it('reads this machine: CPUs, memory, root disk and a port we listen on', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const facts = parseFacts(execFileSync('sh', ['-c', FACTS_SCRIPT], { encoding: 'utf8' }));
      expect(facts.cpus).toBe(cpus().length);
      expect(facts.memory.totalBytes).toBe(totalmem());
      expect(facts.hostname).toBe(hostname());
      expect(facts.kernel).toMatch(/^Linux \d/);
      expect(facts.os.length).toBeGreaterThan(0);
      expect(facts.listening).toContain(port);
      const root = facts.disks.find((d) => d.mount === '/');
      expect(root?.usedPercent).toBeGreaterThanOrEqual(0);
      expect(root!.sizeBytes).toBeGreaterThan(root!.usedBytes);
    } finally {
      server.close();
    }
  });

  it('parses LISTEN sockets of tcp and tcp6 only, each port once', () => {
    const lines = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
      '   1: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1',
      '   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 3 1',
      '   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 4 1',
    ];
    expect(parseListening(lines)).toEqual([22, 8080]);
  });

  it('parses df -P with mount points holding spaces', () => {
    const disks = parseDf([
      'Filesystem     1024-blocks      Used Available Capacity Mounted on',
      '/dev/sda2       1919727060 1862135248  57591812      97% /',
      '/dev/sdb1          1000000     10000    990000       1% /mnt/backup disk',
    ]);
    expect(disks).toEqual([
      { filesystem: '/dev/sda2', sizeBytes: 1919727060 * 1024, usedBytes: 1862135248 * 1024, usedPercent: 97, mount: '/' },
      { filesystem: '/dev/sdb1', sizeBytes: 1000000 * 1024, usedBytes: 10000 * 1024, usedPercent: 1, mount: '/mnt/backup disk' },
    ]);
  });

  it('refuses output that was cut short or is not from Linux', () => {
    expect(() => parseFacts('@@os\nUbuntu\n@@cpus\n4\n')).toThrow(FactsError);
    expect(() => parseFacts('@@os\nX\n@@cpus\nmany\n@@loadavg\n0 0 0\n@@meminfo\n@@end\n')).toThrow(/Linux host/);
  });

  it('compares sizes and thresholds as the specs write them', () => {
    expect(parseSize('32GB')).toBe(32 * 1024 ** 3);
    expect(parseSize('8-12GB')).toBe(12 * 1024 ** 3);
    expect(parseSize('512MB')).toBe(512 * 1024 ** 2);
    expect(breaches(parseThreshold('>90%'), 97)).toBe(true);
    expect(breaches(parseThreshold('>90%'), 90)).toBe(false);
    expect(breaches(parseThreshold('>=90%'), 90)).toBe(true);
    expect(breaches(parseThreshold('>14GB'), 15 * 1024 ** 3)).toBe(true);
    expect(breaches(parseThreshold('<12GB'), 13 * 1024 ** 3)).toBe(false);
  });
});
