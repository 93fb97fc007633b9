// Fleetspec's own cdktf definitions of the few Terraform types its stacks use: the Cloudflare
// and Google providers, cloudflare_dns_record, cloudflare_zero_trust_tunnel_cloudflared_config,
// the cloudflare_zone and cloudflare_zero_trust_tunnel_cloudflared data sources, and
// google_compute_instance, each with only the attributes fleetspec sets. They are written the
// way cdktf's generated bindings are (@cdktf/provider-cloudflare 13.9.1 for provider 5.14.0,
// @cdktf/provider-google 16.12.1 for provider 6.50.0): the same resource types, provider
// metadata and required_providers source and version, snake_case attribute names, nested
// blocks, and the same JSON and HCL mappings (cdktf's runtime mappers). Those prebuilt packages
// weigh 384 MB; they stay development dependencies, and test/stacks/conformance.test.ts
// synthesises every stack both ways and requires identical JSON.
//
// cdktf is archived upstream. This file and synth.ts are the only places that import it (or
// constructs): a move to its community fork (cdktn) changes these imports (README, "stacks").
import {
  TerraformDataSource,
  TerraformProvider,
  TerraformResource,
  Tokenization,
  anyToHclTerraform,
  anyToTerraform,
  booleanToHclTerraform,
  booleanToTerraform,
  canInspect,
  hashMapper,
  hashMapperHcl,
  isComplexElement,
  listMapper,
  listMapperHcl,
  numberToHclTerraform,
  numberToTerraform,
  stringToHclTerraform,
  stringToTerraform,
  type IResolvable,
  type TerraformMetaArguments,
  type TerraformProviderGeneratorMetadata,
} from 'cdktf';
import type { Construct } from 'constructs';

// ---------------------------------------------------------------------------------------------
// Attribute schemas: how one config field becomes a Terraform attribute, in JSON and in HCL.

interface Attribute {
  /** Terraform's attribute name. */
  readonly name: string;
  /** The value as cdktf's JSON synthesis wants it. */
  readonly json: (value: any) => any;
  /** The value as cdktf's HCL synthesis wants it. */
  readonly hcl: (value: any) => any;
  readonly isBlock: boolean;
  readonly type: 'simple' | 'list' | 'set' | 'map' | 'struct';
  readonly storageClassType: string;
  /** For a single nested block: its own schema (generated bindings keep it in an output reference). */
  readonly block?: Schema<any>;
  /** For a list of nested blocks: the schema of one. */
  readonly items?: Schema<any>;
}

/** One Attribute per config field (meta-arguments such as `provider` excepted), in the generated bindings' order. */
type Schema<C> = { readonly [K in Exclude<keyof C, keyof TerraformMetaArguments>]-?: Attribute };

const simple = (name: string, storageClassType: 'string' | 'number' | 'boolean', json: (x: any) => any, hcl: (x: any) => any): Attribute => ({
  name,
  json,
  hcl,
  isBlock: false,
  type: 'simple',
  storageClassType,
});
const str = (name: string) => simple(name, 'string', stringToTerraform, stringToHclTerraform);
const num = (name: string) => simple(name, 'number', numberToTerraform, numberToHclTerraform);
const bool = (name: string) => simple(name, 'boolean', booleanToTerraform, booleanToHclTerraform);
const strings = (name: string, type: 'list' | 'set'): Attribute => ({
  name,
  json: listMapper(stringToTerraform, false),
  hcl: listMapperHcl(stringToHclTerraform, false),
  isBlock: false,
  type,
  storageClassType: 'stringList',
});
const stringMap = (name: string): Attribute => ({
  name,
  json: hashMapper(stringToTerraform),
  hcl: hashMapperHcl(stringToHclTerraform),
  isBlock: false,
  type: 'map',
  storageClassType: 'stringMap',
});
/** A single nested block (`type` is how the provider's schema nests it: `list` with max 1 item, or `struct`). */
const block = <C>(name: string, schema: Schema<C>, type: 'list' | 'struct', storageClassType: string): Attribute => ({
  name,
  json: structToTerraform(schema),
  hcl: structToHclTerraform(schema),
  isBlock: true,
  type,
  storageClassType,
  block: schema,
});
/** A list of nested blocks (`isBlockType`: whether the provider's schema has them as blocks or as a list attribute). */
const blocks = <C>(name: string, schema: Schema<C>, isBlockType: boolean, storageClassType: string): Attribute => ({
  name,
  json: listMapper(structToTerraform(schema), isBlockType),
  hcl: listMapperHcl(structToHclTerraform(schema), isBlockType),
  isBlock: true,
  type: 'list',
  storageClassType,
  items: schema,
});

const entries = (schema: Schema<any>) => Object.entries(schema) as [string, Attribute][];

function inspectable(struct: unknown): struct is Record<string, unknown> {
  if (!canInspect(struct) || Tokenization.isResolvable(struct)) return false;
  if (isComplexElement(struct)) throw new Error('A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration');
  return true;
}

function structToTerraform(schema: Schema<any>) {
  return (struct: any): any => (inspectable(struct) ? Object.fromEntries(entries(schema).map(([key, a]) => [a.name, a.json(struct[key])])) : struct);
}

function structToHclTerraform(schema: Schema<any>) {
  return (struct: any): any => {
    if (!inspectable(struct)) return struct;
    const attrs = entries(schema).map(([key, a]) => [a.name, { value: a.hcl(struct[key]), isBlock: a.isBlock, type: a.type, storageClassType: a.storageClassType }] as const);
    return Object.fromEntries(attrs.filter(([, v]) => v.value !== undefined));
  };
}

/**
 * The config as the generated bindings hold it: single nested blocks keep only their known
 * fields, and one whose fields are all undefined is left out (an empty object stays).
 */
function held(schema: Schema<any>, config: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [key, a] of entries(schema)) {
    const value = a.block ? heldBlock(a.block, config[key]) : config[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function heldBlock(schema: Schema<any>, value: any): any {
  if (value === undefined || Tokenization.isResolvable(value)) return value;
  const out = held(schema, value);
  return Object.keys(value).length === 0 || Object.keys(out).length > 0 ? out : undefined;
}

function metaArguments(config: TerraformMetaArguments): TerraformMetaArguments {
  const { provider, dependsOn, count, lifecycle, provisioners, connection, forEach } = config;
  return { provider, dependsOn, count, lifecycle, provisioners, connection, forEach };
}

/** Every type's schema, by its place in the JSON (`resource.cloudflare_dns_record`, `provider.google`, …). */
const DEFINED = new Map<string, Schema<any>>();

/** A type's schema as three functions: the config as held, and the held values as JSON and as HCL attributes. */
function mapping<C>(place: string, schema: Schema<C>) {
  DEFINED.set(place, schema);
  return {
    hold: (config: C): Record<string, any> => held(schema, config as Record<string, any>),
    json: structToTerraform(schema) as (values: Record<string, any>) => Record<string, any>,
    hcl: structToHclTerraform(schema) as (values: Record<string, any>) => Record<string, any>,
  };
}

/**
 * Every attribute defined here, as `resource.google_compute_instance.boot_disk.initialize_params.size`:
 * the conformance test checks that its stacks emit each one at least once.
 */
export function definedAttributes(): string[] {
  const paths = (schema: Schema<any>, prefix: string): string[] =>
    entries(schema).flatMap(([, a]) => {
      const nested = a.block ?? a.items;
      const own = `${prefix}.${a.name}`;
      return nested && Object.keys(nested).length ? paths(nested, own) : [own];
    });
  return [...DEFINED].flatMap(([place, schema]) => paths(schema, place)).sort();
}

// ---------------------------------------------------------------------------------------------
// Cloudflare (provider cloudflare/cloudflare 5.14.0, as @cdktf/provider-cloudflare 13.9.1)

const CLOUDFLARE: TerraformProviderGeneratorMetadata = { providerName: 'cloudflare', providerVersion: '5.14.0', providerVersionConstraint: '~> 5.0' };

export interface CloudflareProviderConfig {
  readonly apiToken?: string;
  readonly alias?: string;
}
const CLOUDFLARE_PROVIDER = mapping<CloudflareProviderConfig>('provider.cloudflare', { apiToken: str('api_token'), alias: str('alias') });

export class CloudflareProvider extends TerraformProvider {
  private readonly values: Record<string, any>;
  constructor(scope: Construct, id: string, config: CloudflareProviderConfig = {}) {
    super(scope, id, { terraformResourceType: 'cloudflare', terraformGeneratorMetadata: CLOUDFLARE, terraformProviderSource: 'cloudflare/cloudflare' });
    this.values = CLOUDFLARE_PROVIDER.hold(config);
  }
  override get alias(): string | undefined {
    return this.values.alias;
  }
  override set alias(value: string | undefined) {
    this.values.alias = value;
  }
  protected override synthesizeAttributes() {
    return CLOUDFLARE_PROVIDER.json(this.values);
  }
  protected override synthesizeHclAttributes() {
    return CLOUDFLARE_PROVIDER.hcl(this.values);
  }
}

export interface DataCloudflareZoneFilter {
  readonly name?: string;
}
export interface DataCloudflareZoneConfig extends TerraformMetaArguments {
  readonly filter?: DataCloudflareZoneFilter;
  readonly zoneId?: string;
}
const DATA_CLOUDFLARE_ZONE = mapping<DataCloudflareZoneConfig>('data.cloudflare_zone', {
  filter: block('filter', { name: str('name') } satisfies Schema<DataCloudflareZoneFilter>, 'struct', 'DataCloudflareZoneFilter'),
  zoneId: str('zone_id'),
});

/** data.cloudflare_zone: a zone looked up by id or by name. */
export class DataCloudflareZone extends TerraformDataSource {
  private readonly values: Record<string, any>;
  constructor(scope: Construct, id: string, config: DataCloudflareZoneConfig = {}) {
    super(scope, id, { terraformResourceType: 'cloudflare_zone', terraformGeneratorMetadata: CLOUDFLARE, ...metaArguments(config) });
    this.values = DATA_CLOUDFLARE_ZONE.hold(config);
  }
  get id(): string {
    return this.getStringAttribute('id');
  }
  /** The zone's account (only its id is used). */
  get account(): { readonly id: string } {
    return { id: this.getStringAttribute('account.id') };
  }
  protected override synthesizeAttributes() {
    return DATA_CLOUDFLARE_ZONE.json(this.values);
  }
  protected override synthesizeHclAttributes() {
    return DATA_CLOUDFLARE_ZONE.hcl(this.values);
  }
}

export interface DataCloudflareZeroTrustTunnelCloudflaredFilter {
  readonly isDeleted?: boolean | IResolvable;
  readonly name?: string;
}
export interface DataCloudflareZeroTrustTunnelCloudflaredConfig extends TerraformMetaArguments {
  readonly accountId: string;
  readonly filter?: DataCloudflareZeroTrustTunnelCloudflaredFilter;
}
const DATA_CLOUDFLARE_TUNNEL = mapping<DataCloudflareZeroTrustTunnelCloudflaredConfig>('data.cloudflare_zero_trust_tunnel_cloudflared', {
  accountId: str('account_id'),
  filter: block(
    'filter',
    { isDeleted: bool('is_deleted'), name: str('name') } satisfies Schema<DataCloudflareZeroTrustTunnelCloudflaredFilter>,
    'struct',
    'DataCloudflareZeroTrustTunnelCloudflaredFilter',
  ),
});

/** data.cloudflare_zero_trust_tunnel_cloudflared: a tunnel looked up by name. */
export class DataCloudflareZeroTrustTunnelCloudflared extends TerraformDataSource {
  private readonly values: Record<string, any>;
  constructor(scope: Construct, id: string, config: DataCloudflareZeroTrustTunnelCloudflaredConfig) {
    super(scope, id, { terraformResourceType: 'cloudflare_zero_trust_tunnel_cloudflared', terraformGeneratorMetadata: CLOUDFLARE, ...metaArguments(config) });
    this.values = DATA_CLOUDFLARE_TUNNEL.hold(config);
  }
  get id(): string {
    return this.getStringAttribute('id');
  }
  protected override synthesizeAttributes() {
    return DATA_CLOUDFLARE_TUNNEL.json(this.values);
  }
  protected override synthesizeHclAttributes() {
    return DATA_CLOUDFLARE_TUNNEL.hcl(this.values);
  }
}

export interface DnsRecordData {
  /** A CAA record's flags. The provider's type is dynamic (generated bindings: a map of any), so a number goes in as a token (Token.asAny) that both mappers pass through. */
  readonly flags?: { [key: string]: any } | IResolvable;
  readonly tag?: string;
  readonly value?: string;
}
const DNS_RECORD_DATA: Schema<DnsRecordData> = {
  flags: {
    name: 'flags',
    json: hashMapper(anyToTerraform),
    hcl: hashMapperHcl(anyToHclTerraform),
    isBlock: false,
    type: 'map',
    storageClassType: 'anyMap',
  },
  tag: str('tag'),
  value: str('value'),
};
export interface DnsRecordConfig extends TerraformMetaArguments {
  readonly comment?: string;
  readonly content?: string;
  readonly data?: DnsRecordData;
  readonly name: string;
  readonly priority?: number;
  readonly proxied?: boolean | IResolvable;
  readonly ttl: number;
  readonly type: string;
  readonly zoneId: string;
}
const DNS_RECORD = mapping<DnsRecordConfig>('resource.cloudflare_dns_record', {
  comment: str('comment'),
  content: str('content'),
  data: block('data', DNS_RECORD_DATA, 'struct', 'DnsRecordData'),
  name: str('name'),
  priority: num('priority'),
  proxied: bool('proxied'),
  ttl: num('ttl'),
  type: str('type'),
  zoneId: str('zone_id'),
});

/** cloudflare_dns_record. */
export class DnsRecord extends TerraformResource {
  private readonly values: Record<string, any>;
  constructor(scope: Construct, id: string, config: DnsRecordConfig) {
    super(scope, id, { terraformResourceType: 'cloudflare_dns_record', terraformGeneratorMetadata: CLOUDFLARE, ...metaArguments(config) });
    this.values = DNS_RECORD.hold(config);
  }
  protected override synthesizeAttributes() {
    return DNS_RECORD.json(this.values);
  }
  protected override synthesizeHclAttributes() {
    return DNS_RECORD.hcl(this.values);
  }
}

export interface ZeroTrustTunnelCloudflaredConfigConfigIngress {
  readonly hostname?: string;
  readonly service: string;
}
export interface ZeroTrustTunnelCloudflaredConfigConfig {
  readonly ingress?: ZeroTrustTunnelCloudflaredConfigConfigIngress[] | IResolvable;
}
export interface ZeroTrustTunnelCloudflaredConfigSettings extends TerraformMetaArguments {
  readonly accountId: string;
  readonly config?: ZeroTrustTunnelCloudflaredConfigConfig;
  readonly tunnelId: string;
}
const TUNNEL_CONFIG = mapping<ZeroTrustTunnelCloudflaredConfigSettings>('resource.cloudflare_zero_trust_tunnel_cloudflared_config', {
  accountId: str('account_id'),
  config: block(
    'config',
    {
      ingress: blocks(
        'ingress',
        { hostname: str('hostname'), service: str('service') } satisfies Schema<ZeroTrustTunnelCloudflaredConfigConfigIngress>,
        false,
        'ZeroTrustTunnelCloudflaredConfigConfigIngressList',
      ),
    } satisfies Schema<ZeroTrustTunnelCloudflaredConfigConfig>,
    'struct',
    'ZeroTrustTunnelCloudflaredConfigConfig',
  ),
  tunnelId: str('tunnel_id'),
});

/** cloudflare_zero_trust_tunnel_cloudflared_config: a tunnel's ingress rules (the prebuilt class is ZeroTrustTunnelCloudflaredConfigA). */
export class ZeroTrustTunnelCloudflaredConfig extends TerraformResource {
  private readonly values: Record<string, any>;
  constructor(scope: Construct, id: string, config: ZeroTrustTunnelCloudflaredConfigSettings) {
    super(scope, id, { terraformResourceType: 'cloudflare_zero_trust_tunnel_cloudflared_config', terraformGeneratorMetadata: CLOUDFLARE, ...metaArguments(config) });
    this.values = TUNNEL_CONFIG.hold(config);
  }
  protected override synthesizeAttributes() {
    return TUNNEL_CONFIG.json(this.values);
  }
  protected override synthesizeHclAttributes() {
    return TUNNEL_CONFIG.hcl(this.values);
  }
}

// ---------------------------------------------------------------------------------------------
// Google (provider google 6.50.0, as @cdktf/provider-google 16.12.1)

const GOOGLE: TerraformProviderGeneratorMetadata = { providerName: 'google', providerVersion: '6.50.0', providerVersionConstraint: '~> 6.0' };

export interface GoogleProviderConfig {
  readonly credentials?: string;
  readonly alias?: string;
}
const GOOGLE_PROVIDER = mapping<GoogleProviderConfig>('provider.google', { credentials: str('credentials'), alias: str('alias') });

export class GoogleProvider extends TerraformProvider {
  private readonly values: Record<string, any>;
  constructor(scope: Construct, id: string, config: GoogleProviderConfig = {}) {
    // The generated binding names the source `google` (Terraform reads it as hashicorp/google).
    super(scope, id, { terraformResourceType: 'google', terraformGeneratorMetadata: GOOGLE, terraformProviderSource: 'google' });
    this.values = GOOGLE_PROVIDER.hold(config);
  }
  override get alias(): string | undefined {
    return this.values.alias;
  }
  override set alias(value: string | undefined) {
    this.values.alias = value;
  }
  protected override synthesizeAttributes() {
    return GOOGLE_PROVIDER.json(this.values);
  }
  protected override synthesizeHclAttributes() {
    return GOOGLE_PROVIDER.hcl(this.values);
  }
}

export interface ComputeInstanceBootDiskInitializeParams {
  readonly image?: string;
  readonly size?: number;
  readonly type?: string;
}
export interface ComputeInstanceBootDisk {
  readonly initializeParams?: ComputeInstanceBootDiskInitializeParams;
}
/** An access config block; fleetspec sets none of its fields (an empty block asks for an ephemeral external IP). */
export type ComputeInstanceNetworkInterfaceAccessConfig = Record<string, never>;
export interface ComputeInstanceNetworkInterface {
  readonly network?: string;
  readonly accessConfig?: ComputeInstanceNetworkInterfaceAccessConfig[] | IResolvable;
}
export interface ComputeInstanceServiceAccount {
  readonly email?: string;
  readonly scopes: string[];
}
export interface ComputeInstanceConfig extends TerraformMetaArguments {
  readonly allowStoppingForUpdate?: boolean | IResolvable;
  readonly description?: string;
  readonly labels?: { [key: string]: string };
  readonly machineType: string;
  readonly name: string;
  readonly project?: string;
  readonly zone?: string;
  readonly bootDisk: ComputeInstanceBootDisk;
  readonly networkInterface: ComputeInstanceNetworkInterface[] | IResolvable;
  readonly serviceAccount?: ComputeInstanceServiceAccount;
}
const COMPUTE_INSTANCE = mapping<ComputeInstanceConfig>('resource.google_compute_instance', {
  allowStoppingForUpdate: bool('allow_stopping_for_update'),
  description: str('description'),
  labels: stringMap('labels'),
  machineType: str('machine_type'),
  name: str('name'),
  project: str('project'),
  zone: str('zone'),
  bootDisk: block(
    'boot_disk',
    {
      initializeParams: block(
        'initialize_params',
        { image: str('image'), size: num('size'), type: str('type') } satisfies Schema<ComputeInstanceBootDiskInitializeParams>,
        'list',
        'ComputeInstanceBootDiskInitializeParamsList',
      ),
    } satisfies Schema<ComputeInstanceBootDisk>,
    'list',
    'ComputeInstanceBootDiskList',
  ),
  networkInterface: blocks(
    'network_interface',
    {
      network: str('network'),
      accessConfig: blocks('access_config', {}, true, 'ComputeInstanceNetworkInterfaceAccessConfigList'),
    } satisfies Schema<ComputeInstanceNetworkInterface>,
    true,
    'ComputeInstanceNetworkInterfaceList',
  ),
  serviceAccount: block(
    'service_account',
    { email: str('email'), scopes: strings('scopes', 'set') } satisfies Schema<ComputeInstanceServiceAccount>,
    'list',
    'ComputeInstanceServiceAccountList',
  ),
});

/** google_compute_instance. */
export class ComputeInstance extends TerraformResource {
  private readonly values: Record<string, any>;
  constructor(scope: Construct, id: string, config: ComputeInstanceConfig) {
    super(scope, id, { terraformResourceType: 'google_compute_instance', terraformGeneratorMetadata: GOOGLE, ...metaArguments(config) });
    this.values = COMPUTE_INSTANCE.hold(config);
  }
  protected override synthesizeAttributes() {
    return COMPUTE_INSTANCE.json(this.values);
  }
  protected override synthesizeHclAttributes() {
    return COMPUTE_INSTANCE.hcl(this.values);
  }
}

// ---------------------------------------------------------------------------------------------
// The set synth.ts builds stacks with. The conformance test passes the prebuilt classes in its
// place: both must synthesise the same JSON.

type Construction<C, I> = new (scope: Construct, id: string, config: C) => I;

export interface StackTypes {
  CloudflareProvider: Construction<CloudflareProviderConfig, TerraformProvider>;
  DataCloudflareZone: Construction<DataCloudflareZoneConfig, TerraformDataSource & { readonly id: string; readonly account: { readonly id: string } }>;
  DataCloudflareZeroTrustTunnelCloudflared: Construction<DataCloudflareZeroTrustTunnelCloudflaredConfig, TerraformDataSource & { readonly id: string }>;
  DnsRecord: Construction<DnsRecordConfig, TerraformResource>;
  ZeroTrustTunnelCloudflaredConfig: Construction<ZeroTrustTunnelCloudflaredConfigSettings, TerraformResource>;
  GoogleProvider: Construction<GoogleProviderConfig, TerraformProvider>;
  ComputeInstance: Construction<ComputeInstanceConfig, TerraformResource>;
}

export const STACK_TYPES: StackTypes = {
  CloudflareProvider,
  DataCloudflareZone,
  DataCloudflareZeroTrustTunnelCloudflared,
  DnsRecord,
  ZeroTrustTunnelCloudflaredConfig,
  GoogleProvider,
  ComputeInstance,
};
