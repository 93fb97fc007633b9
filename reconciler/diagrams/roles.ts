// The role matrix of seeds 000/001: each role and bastion, the capabilities it holds (solid
// arrows) and the ones it is denied (crossed dotted arrows), the approvers, and which roles may
// reach the bastions.
import type { SpecIndex } from '../kinds/kind.js';
import { CAPABILITIES, type Capability, type Role } from '../kinds/roles/index.js';
import { Ids, indent, label, sortedValues, type Diagram } from './diagram.js';

function render(index: SpecIndex): string[] {
  const ids = new Ids();
  const roles = sortedValues<Role>(index, 'roles');
  const people = roles.filter((r) => r.type !== 'bastion');
  const bastions = roles.filter((r) => r.type === 'bastion');
  const order = Object.keys(CAPABILITIES) as Capability[];
  const used = order.filter((c) => people.some((r) => r.capabilities.includes(c) || r.denied?.includes(c)));
  const out: string[] = ['flowchart LR'];
  const edges: string[] = [];
  const denied: number[] = [];

  out.push(indent(1, `subgraph roles[${label('roles')}]`));
  for (const role of people) {
    const users = role.githubUsers?.length ? `GitHub: ${role.githubUsers.map((u) => `@${u}`).join(', ')}` : undefined;
    out.push(indent(2, `${ids.of('role', role.name)}[${label(role.name, role.description, `${role.ssh.user}@:${role.ssh.port}`, users)}]:::role`));
  }
  out.push(indent(1, 'end'));

  out.push(indent(1, `subgraph capabilities[${label('capabilities')}]`));
  for (const c of used) out.push(indent(2, `${ids.of('cap', c)}[${label(c, CAPABILITIES[c])}]:::capability`));
  out.push(indent(1, 'end'));

  if (bastions.length) {
    out.push(indent(1, `subgraph bastions[${label('bastions (hold nothing)')}]`));
    for (const b of bastions) out.push(indent(2, `${ids.of('bastion', b.name)}[${label(b.name, b.description, `${b.ssh.user}@:${b.ssh.port}`)}]:::bastion`));
    out.push(indent(1, 'end'));
  }

  for (const role of people) {
    for (const c of order.filter((x) => role.capabilities.includes(x))) edges.push(`${ids.of('role', role.name)} --> ${ids.of('cap', c)}`);
    for (const c of order.filter((x) => role.denied?.includes(x))) {
      denied.push(edges.length);
      edges.push(`${ids.of('role', role.name)} -. denied .-x ${ids.of('cap', c)}`);
    }
  }
  if (bastions.length && used.includes('ssh.bastions')) {
    for (const b of bastions) edges.push(`${ids.of('cap', 'ssh.bastions')} -.-> ${ids.of('bastion', b.name)}`);
  }

  return [
    ...out,
    ...edges.map((e) => indent(1, e)),
    indent(1, 'classDef role fill:#e8f0fe,stroke:#3367d6'),
    indent(1, 'classDef capability fill:#f1f3f4,stroke:#5f6368'),
    indent(1, 'classDef bastion fill:#fef7e0,stroke:#b06000'),
    ...(denied.length ? [indent(1, `linkStyle ${denied.join(',')} stroke:#d93025,color:#d93025`)] : []),
  ];
}

export const roles: Diagram = {
  name: 'roles',
  title: 'Role matrix: what each role may do, and what it is denied',
  render,
};
