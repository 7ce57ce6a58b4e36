import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { staffRoles } from '#shared/auth/staff-auth.ts';
import { channels } from '#shared/domain/message.ts';
import { templateStatuses } from '#shared/domain/template.ts';
import { deliveryStatusRank } from '#shared/ports/channel-sender.ts';
import { httpRoutes, type HttpRoute } from '#shared/routes.ts';

/**
 * The OpenAPI document is the contract's "document every route": these tests keep it in step with the
 * route table the gateway and the CDK stack are built from. The spec is JSON (valid YAML too) because no
 * YAML parser is a dependency of the project.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const spec = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8')) as JsonObject;

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectAt(value: Json | undefined, what: string): JsonObject {
  if (!isObject(value)) throw new Error(`${what} is not an object`);
  return value;
}

type Operation = { key: string; method: string; path: string; op: JsonObject };

function operations(): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(objectAt(spec.paths, 'paths'))) {
    for (const [method, op] of Object.entries(objectAt(item, path))) {
      if (!(methods as readonly string[]).includes(method)) continue;
      out.push({ key: `${method.toUpperCase()} ${path}`, method, path, op: objectAt(op, `${method} ${path}`) });
    }
  }
  return out;
}

/** Every `$ref` anywhere in the document, with where it was found. */
function refs(node: Json, at: string, found: Array<{ ref: string; at: string }> = []): Array<{ ref: string; at: string }> {
  if (Array.isArray(node)) node.forEach((item, i) => refs(item, `${at}/${i}`, found));
  else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push({ ref: value, at });
      else refs(value, `${at}/${key}`, found);
    }
  }
  return found;
}

/** Resolves a local JSON pointer (`#/components/schemas/Message`), or `undefined`. */
function resolvePointer(ref: string): Json | undefined {
  if (!ref.startsWith('#/')) return undefined;
  let node: Json | undefined = spec;
  for (const raw of ref.slice(2).split('/')) {
    const segment = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) node = node[Number(segment)];
    else if (isObject(node)) node = Object.hasOwn(node, segment) ? node[segment] : undefined;
    else return undefined;
  }
  return node;
}

/** A parameter object, following its `$ref` if it has one. */
function deref(node: Json | undefined): Json | undefined {
  return isObject(node) && typeof node.$ref === 'string' ? resolvePointer(node.$ref) : node;
}

const routeKey = (r: HttpRoute) => `${r.method} ${r.path}`;

describe('openapi.json', () => {
  it('is an OpenAPI 3.1 document', () => {
    // Assess
    expect(spec.openapi).toMatch(/^3\.1\.\d+$/);
    expect(isObject(spec.info) && typeof spec.info.title === 'string').toBe(true);
  });

  it('documents every route of shared/routes.ts, with the route name as operationId', () => {
    // Prepare
    const documented = new Map(operations().map((o) => [o.key, o.op]));

    // Act
    const missing = httpRoutes.filter((r) => !documented.has(routeKey(r))).map(routeKey);
    const wrongIds = httpRoutes
      .filter((r) => documented.has(routeKey(r)) && documented.get(routeKey(r))?.operationId !== r.name)
      .map((r) => `${routeKey(r)} should have operationId ${r.name}`);

    // Assess
    expect(missing).toEqual([]);
    expect(wrongIds).toEqual([]);
  });

  it('documents no path or method that shared/routes.ts does not serve', () => {
    // Prepare
    const served = new Set(httpRoutes.map(routeKey));

    // Act
    const extra = operations()
      .map((o) => o.key)
      .filter((key) => !served.has(key));

    // Assess
    expect(extra).toEqual([]);
  });

  it('gives every operation a unique operationId, a 2xx answer and at least one 4xx answer', () => {
    // Act
    const ops = operations();
    const ids = ops.map((o) => o.op.operationId);
    const lacking = ops.flatMap(({ key, op }) => {
      const codes = Object.keys(objectAt(op.responses, `${key} responses`));
      return [
        ...(codes.some((c) => /^2\d\d$/.test(c)) ? [] : [`${key}: no 2xx answer`]),
        ...(codes.some((c) => /^4\d\d$/.test(c)) ? [] : [`${key}: no 4xx answer`]),
      ];
    });

    // Assess
    expect(new Set(ids).size).toBe(ids.length);
    expect(lacking).toEqual([]);
  });

  it('gives every operation a security requirement of defined schemes, or an explicit empty one with a reason', () => {
    // Prepare
    const schemes = objectAt(objectAt(spec.components, 'components').securitySchemes, 'securitySchemes');

    // Act
    const problems = operations().flatMap(({ key, op }) => {
      const security = op.security;
      if (!Array.isArray(security)) return [`${key}: no security requirement`];
      if (security.length === 0) {
        const reason = op['x-no-auth-reason'];
        return typeof reason === 'string' && reason.trim() !== '' ? [] : [`${key}: empty security without x-no-auth-reason`];
      }
      return security.flatMap((requirement) => {
        const names = Object.keys(objectAt(requirement, `${key} security`));
        if (names.length === 0) return [`${key}: an empty requirement object makes the route anonymous`];
        return names.filter((n) => !Object.hasOwn(schemes, n)).map((n) => `${key}: undefined security scheme ${n}`);
      });
    });

    // Assess
    expect(problems).toEqual([]);
  });

  it('secures each route the way shared/routes.ts says: staff routes by JWT with real roles, webhooks never by JWT', () => {
    // Prepare
    const byKey = new Map(operations().map((o) => [o.key, o.op]));

    // Act
    const problems = httpRoutes.flatMap((route) => {
      const op = byKey.get(routeKey(route));
      if (!op || !Array.isArray(op.security)) return [];
      const requirements = op.security.map((r) => objectAt(r, `${routeKey(route)} security`));
      const usesJwt = requirements.some((r) => Object.hasOwn(r, 'staffJwt'));
      if (route.auth === 'staff') {
        const roles = requirements.flatMap((r) => (Array.isArray(r.staffJwt) ? r.staffJwt : []));
        const unknown = roles.filter((role) => !(staffRoles as readonly Json[]).includes(role));
        return [
          ...(requirements.every((r) => Object.hasOwn(r, 'staffJwt')) ? [] : [`${routeKey(route)}: staff route without staffJwt`]),
          ...(roles.length > 0 ? [] : [`${routeKey(route)}: no role named`]),
          ...unknown.map((role) => `${routeKey(route)}: unknown role ${String(role)}`),
        ];
      }
      return usesJwt ? [`${routeKey(route)}: ${route.auth} route documented as taking a staff JWT`] : [];
    });

    // Assess
    expect(problems).toEqual([]);
  });

  it('names exactly the roles of shared/routes.ts on each staff route, and no auth on local-only dev routes', () => {
    // Prepare
    const byKey = new Map(operations().map((o) => [o.key, o.op]));

    // Act
    const problems = httpRoutes.flatMap((route) => {
      const op = byKey.get(routeKey(route));
      if (!op) return [];
      const requirements = (Array.isArray(op.security) ? op.security : []).map((r) => objectAt(r, `${routeKey(route)} security`));
      if (route.auth === 'dev') return requirements.length === 0 ? [] : [`${routeKey(route)}: a dev route documented with credentials`];
      if (route.auth !== 'staff') return [];
      const documented = [...new Set(requirements.flatMap((r) => (Array.isArray(r.staffJwt) ? r.staffJwt : [])))].map(String).sort();
      const served = [...(route.roles ?? [])].sort();
      return documented.join(',') === served.join(',') ? [] : [`${routeKey(route)}: documents roles [${documented.join(', ')}], routes.ts has [${served.join(', ')}]`];
    });

    // Assess
    expect(problems).toEqual([]);
  });

  it('gives every 4xx answer a JSON body in the Error shape', () => {
    // Prepare
    const errorRef = '#/components/schemas/Error';
    const mentionsError = (schema: Json | undefined): boolean =>
      isObject(schema) && (schema.$ref === errorRef || (Array.isArray(schema.oneOf) && schema.oneOf.some((s) => isObject(s) && s.$ref === errorRef)));

    // Act
    const problems = operations().flatMap(({ key, op }) =>
      Object.entries(objectAt(op.responses, `${key} responses`))
        .filter(([code]) => /^4\d\d$/.test(code))
        .flatMap(([code, answer]) => {
          const resolved = deref(answer);
          const content = isObject(resolved) && isObject(resolved.content) ? resolved.content : undefined;
          const body = content && isObject(content['application/json']) ? content['application/json'] : undefined;
          return mentionsError(body?.schema) ? [] : [`${key} ${code}: no application/json Error body`];
        }),
    );

    // Assess
    expect(problems).toEqual([]);
  });

  it('lists the same channels, template statuses and delivery statuses as the code', () => {
    // Prepare
    const schemas = objectAt(objectAt(spec.components, 'components').schemas, 'schemas');
    const enumOf = (name: string) => objectAt(schemas[name], name).enum;

    // Assess
    expect(enumOf('Channel')).toEqual([...channels]);
    expect(enumOf('TemplateStatus')).toEqual([...templateStatuses]);
    expect(enumOf('DeliveryStatus')).toEqual(Object.keys(deliveryStatusRank));
  });

  it('declares every path parameter of every documented path', () => {
    // Act
    const missing = operations().flatMap(({ key, path, op }) => {
      const wanted = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const declared = (Array.isArray(op.parameters) ? op.parameters : [])
        .map(deref)
        .filter((p): p is JsonObject => isObject(p) && p.in === 'path' && p.required === true)
        .map((p) => p.name);
      return wanted.filter((name) => !declared.includes(name ?? '')).map((name) => `${key}: path parameter ${name ?? ''}`);
    });

    // Assess
    expect(missing).toEqual([]);
  });

  it('resolves every $ref', () => {
    // Act
    const all = refs(spec, '#');
    const broken = all.filter(({ ref }) => resolvePointer(ref) === undefined).map(({ ref, at }) => `${ref} (at ${at})`);

    // Assess
    expect(all.length).toBeGreaterThan(0);
    expect(broken).toEqual([]);
  });

  it('defines the shared schemas staff clients build on', () => {
    // Prepare
    const schemas = objectAt(objectAt(spec.components, 'components').schemas, 'schemas');

    // Assess
    for (const name of [
      'Message',
      'Attachment',
      'Customer',
      'Conversation',
      'MessagePage',
      'Error',
      'IdentityRef',
      'TemplateDraft',
      'TemplateVersion',
      'Template',
      'SmsInfo',
      'SendAccepted',
      'CustomerConsent',
      'BroadcastRequest',
      'BroadcastResult',
    ]) {
      expect(isObject(schemas[name]), name).toBe(true);
    }
  });
});
