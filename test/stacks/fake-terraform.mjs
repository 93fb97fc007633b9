#!/usr/bin/env node
// A stand-in for the terraform CLI (no binary can be downloaded here), following its
// documented contract for the commands fleetspec runs:
//   init -input=false            needs the pg backend's PG_CONN_STR; creates <schema>.states like the real backend
//   plan -out=FILE -detailed-exitcode   0 no changes, 2 changes, 1 error; every variable without a default needs TF_VAR_<name>
//   show -json FILE              the JSON output format (format_version 1.2): resource_changes, variables (plain text, as real terraform prints them)
//   apply FILE                   refuses a stale saved plan ("Saved plan is stale"), else writes the new state
// Live "cloud" state is the state itself: resources match what was last applied.
// TF_FAKE_FAIL=plan|apply makes that command fail with a Terraform-style error block.
// TF_FAKE_LOG=<file> appends one line per invocation (command and the TF_VAR_/PG_ names it saw).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import pg from 'pg';

const [command, ...args] = process.argv.slice(2);
const env = process.env;

function fail(summary, detail = '') {
  process.stderr.write(`╷\n│ Error: ${summary}\n│ \n${detail ? `│ ${detail}\n` : ''}╵\n`);
  process.exit(1);
}

if (env.TF_FAKE_LOG) {
  const names = Object.keys(env).filter((k) => k.startsWith('TF_VAR_') || k === 'PG_CONN_STR').sort();
  appendFileSync(env.TF_FAKE_LOG, `${command} ${args.join(' ')} | ${names.join(' ')}\n`);
}

if (command === 'version') {
  process.stdout.write(JSON.stringify({ terraform_version: '1.9.8-fake', platform: 'linux_amd64', provider_selections: {}, terraform_outdated: false }) + '\n');
  process.exit(0);
}

const config = existsSync('cdk.tf.json') ? JSON.parse(readFileSync('cdk.tf.json', 'utf8')) : fail('No configuration files', 'cdk.tf.json is missing');
const schema = config.terraform?.backend?.pg?.schema_name ?? 'terraform_remote_state';

async function withDb(fn) {
  if (!env.PG_CONN_STR) fail('Error configuring the backend "pg"', 'conn_str is required: set it or PG_CONN_STR');
  if (config.terraform?.backend?.pg?.conn_str) fail('conn_str in configuration', 'this test refuses a connection string written into the JSON');
  const client = new pg.Client({ connectionString: env.PG_CONN_STR });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const readState = (db) =>
  db.query(`select data from ${schema}.states where name = 'default'`).then((r) => (r.rows[0] ? JSON.parse(r.rows[0].data) : { serial: 0, lineage: 'fake', resources: {} }));

/** Desired values: each resource block without cdktf metadata and meta-arguments; interpolations resolved to stable placeholders. */
function desired() {
  const out = {};
  for (const [type, byName] of Object.entries(config.resource ?? {})) {
    for (const [name, block] of Object.entries(byName)) {
      const { '//': _, provider: __, ...values } = block;
      out[`${type}.${name}`] = { type, name, values: JSON.parse(JSON.stringify(values).replace(/\$\{([^}]*)\}/g, (_, e) => `resolved(${e})`)) };
    }
  }
  return out;
}

// Arguments that force a new resource, as the providers' schemas mark them.
const FORCE_NEW = { google_compute_instance: ['name', 'zone', 'project', 'boot_disk'], cloudflare_dns_record: ['zone_id'] };
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function planDoc(state) {
  const want = desired();
  const changes = [];
  const sensitive = (values) => Object.fromEntries(Object.keys(values).filter((k) => k === 'api_token').map((k) => [k, true]));
  for (const [address, r] of Object.entries(want)) {
    const have = state.resources[address];
    const base = { address, mode: 'managed', type: r.type, name: r.name, provider_name: `registry.terraform.io/fake/${r.type.split('_')[0]}` };
    if (!have) {
      changes.push({ ...base, change: { actions: ['create'], before: null, after: r.values, after_unknown: { id: true }, before_sensitive: false, after_sensitive: sensitive(r.values) } });
      continue;
    }
    const { id, ...current } = have;
    if (same(current, r.values)) {
      changes.push({ ...base, change: { actions: ['no-op'], before: have, after: have, after_unknown: {}, before_sensitive: {}, after_sensitive: {} } });
      continue;
    }
    const forced = (FORCE_NEW[r.type] ?? []).filter((k) => !same(current[k], r.values[k]));
    if (forced.length) {
      changes.push({ ...base, change: { actions: ['delete', 'create'], before: have, after: r.values, after_unknown: { id: true }, before_sensitive: {}, after_sensitive: {}, replace_paths: forced.map((k) => [k]) }, action_reason: 'replace_because_cannot_update' });
    } else {
      changes.push({ ...base, change: { actions: ['update'], before: have, after: { ...r.values, id }, after_unknown: {}, before_sensitive: {}, after_sensitive: {} } });
    }
  }
  for (const [address, have] of Object.entries(state.resources)) {
    if (want[address]) continue;
    const [type, name] = address.split('.');
    changes.push({ address, mode: 'managed', type, name, provider_name: 'registry.terraform.io/fake/x', change: { actions: ['delete'], before: have, after: null, after_unknown: {}, before_sensitive: {}, after_sensitive: false }, action_reason: 'delete_because_no_resource_config' });
  }
  const variables = Object.fromEntries(Object.keys(config.variable ?? {}).map((v) => [v, { value: env[`TF_VAR_${v}`] }]));
  return {
    format_version: '1.2',
    terraform_version: '1.9.8-fake',
    variables,
    planned_values: { root_module: {} },
    resource_changes: changes,
    configuration: { root_module: {} },
    applyable: changes.some((c) => c.change.actions[0] !== 'no-op'),
    complete: true,
    errored: false,
    timestamp: '2026-11-21T00:00:00Z',
  };
}

function argValue(prefix) {
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

if (command === 'init') {
  await withDb(async (db) => {
    await db.query(`create schema if not exists ${schema}`);
    await db.query(`create table if not exists ${schema}.states (id bigserial primary key, name text unique, data text)`);
  });
  mkdirSync('.terraform', { recursive: true });
  process.stdout.write('\nTerraform has been successfully initialized!\n');
  process.exit(0);
}

if (command === 'plan') {
  if (!existsSync('.terraform')) fail('Backend initialization required, please run "terraform init"');
  for (const [name, v] of Object.entries(config.variable ?? {})) {
    if (v.default === undefined && env[`TF_VAR_${name}`] === undefined) fail(`No value for required variable`, `The root module input variable "${name}" is not set`);
  }
  if (env.TF_FAKE_FAIL === 'plan') fail('Invalid provider configuration', 'the API token is not valid');
  const state = await withDb(readState);
  const doc = planDoc(state);
  const out = argValue('-out=');
  const hash = createHash('sha256').update(readFileSync('cdk.tf.json')).digest('hex');
  if (out) writeFileSync(out, JSON.stringify({ serial: state.serial, configHash: hash, doc }));
  const n = (a) => doc.resource_changes.filter((c) => c.change.actions.join() === a).length;
  const add = n('create') + n('delete,create');
  const destroy = n('delete') + n('delete,create');
  const change = n('update');
  const any = add + destroy + change > 0;
  process.stdout.write(any ? `Plan: ${add} to add, ${change} to change, ${destroy} to destroy.\n` : 'No changes. Your infrastructure matches the configuration.\n');
  process.exit(any && args.includes('-detailed-exitcode') ? 2 : 0);
}

if (command === 'show') {
  const file = args.filter((a) => !a.startsWith('-'))[0];
  if (!file || !existsSync(file)) fail('Failed to read the given file as a state or plan file');
  process.stdout.write(JSON.stringify(JSON.parse(readFileSync(file, 'utf8')).doc) + '\n');
  process.exit(0);
}

if (command === 'apply') {
  const file = args.filter((a) => !a.startsWith('-'))[0];
  if (!file || !existsSync(file)) fail('Failed to load the plan file');
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  if (env.TF_FAKE_FAIL === 'apply') fail('creating DNS Record: 400 Bad Request', 'An A, AAAA, or CNAME record with that host already exists.');
  await withDb(async (db) => {
    const state = await readState(db);
    if (state.serial !== saved.serial) fail('Saved plan is stale', 'The given plan file can no longer be applied because the state was changed by another operation after the plan was created.');
    const resources = { ...state.resources };
    let added = 0, changed = 0, destroyed = 0;
    for (const c of saved.doc.resource_changes) {
      const actions = c.change.actions.join();
      if (actions === 'no-op') continue;
      const label = c.address;
      if (actions === 'delete') {
        process.stdout.write(`${label}: Destroying...\n${label}: Destruction complete after 0s\n`);
        delete resources[c.address];
        destroyed++;
        continue;
      }
      const id = createHash('sha256').update(c.address + JSON.stringify(c.change.after)).digest('hex').slice(0, 16);
      process.stdout.write(`${label}: ${actions === 'update' ? 'Modifying' : 'Creating'}...\n${label}: ${actions === 'update' ? 'Modifications' : 'Creation'} complete after 0s [id=${id}]\n`);
      resources[c.address] = { ...c.change.after, id: actions === 'update' ? c.change.before.id : id };
      if (actions === 'update') changed++;
      else {
        added++;
        if (actions !== 'create') destroyed++;
      }
    }
    const next = { serial: state.serial + 1, lineage: state.lineage, resources };
    await db.query(`insert into ${schema}.states (name, data) values ('default', $1) on conflict (name) do update set data = excluded.data`, [JSON.stringify(next)]);
    process.stdout.write(`\nApply complete! Resources: ${added} added, ${changed} changed, ${destroyed} destroyed.\n`);
  });
  process.exit(0);
}

fail(`fake terraform: unsupported command "${command}"`);
