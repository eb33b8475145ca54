/**
 * Routes are declared once with their zod schemas, of the request and of the answer; the same declaration
 * validates requests, checks answers (outside production) and generates `/openapi.json`, so the documentation
 * cannot drift from what the server enforces or sends.
 */
import type { Express, NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import { findUnstorable, STORABLE_TEXT_MESSAGE } from '../../common/text';
import { AppError, AppErrorCode } from '../../lib/app-error';
import type { PrismaClient } from '../../lib/prisma';
import { tenantDb } from '../../lib/tenant-db';
import type { ApiDeps } from '../deps';
import { scopeOf, type Principal } from './access';
import { authenticate } from './auth';
import { probeCrossTenant } from './cross-tenant';
import type { WebAuth } from './web-session';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteContext<P, Q, B> {
  req: Request;
  res: Response;
  /**
   * `deps.prisma` here is fenced by row-level security to the principal's organizations (to none on routes
   * without authentication), so a query that forgets its org condition still cannot reach another tenant.
   */
  deps: ApiDeps;
  /** The unfenced client, for the few lookups that must cross tenants (enrollment by key, the cross-tenant probe). */
  system: PrismaClient;
  principal: Principal;
  web: WebAuth;
  /** Where people reach the api (for links mailed out): configured, or known once it listens. Never the Host header. */
  baseUrl: () => string | undefined;
  params: P;
  query: Q;
  body: B;
}

export interface Route<P = unknown, Q = unknown, B = unknown, S extends z.ZodType = z.ZodType> {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  /** 'user': an API key or a signed-in session (whose writes must carry the CSRF token). */
  auth: 'user' | 'none';
  /**
   * A POST that changes nothing (it only reads), called with the session cookie by a page of another origin that
   * cannot send our CSRF token (the Temporal UI's codec calls). Its answer is guarded by CORS instead.
   */
  readOnlyPost?: true;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  responses: Record<number, string>;
  /** The body of its success answers (common/api-answers.ts); errors are `{ error: { code, message } }`. */
  response: S;
  handler(ctx: RouteContext<P, Q, B>): Promise<{ status: number; body: z.input<S> }>;
}

export type AnyRoute = Route<any, any, any, z.ZodType>;

export function defineRoute<P = Record<string, never>, Q = Record<string, never>, B = undefined, S extends z.ZodType = z.ZodType>(route: Route<P, Q, B, S>): Route<P, Q, B, S> {
  return route;
}

const MAX_REQUEST_DEPTH = 32;

function parsePart<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  // Text PostgreSQL could not store (a NUL, an unpaired surrogate) is refused here, before any query sees it.
  const bad = findUnstorable(value, MAX_REQUEST_DEPTH);
  if (bad) throw new AppError(AppErrorCode.BadRequest, `${[where, ...bad.path].join('.')}: ${bad.kind === 'text' ? STORABLE_TEXT_MESSAGE : bad.reason}`);
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((i) => ({ field: [where, ...i.path].join('.'), message: i.message }));
  const first = details[0]!;
  throw new AppError(AppErrorCode.BadRequest, `${first.field}: ${first.message}`, { details });
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The answer as it goes out (JSON, dates as strings), held against the route's schema: off it is a 500 and a logged error. */
function checkAnswer(route: AnyRoute, body: unknown, deps: ApiDeps): void {
  const parsed = route.response.safeParse(JSON.parse(JSON.stringify(body ?? null)));
  if (parsed.success) return;
  const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  deps.logger.error({ route: `${route.method.toUpperCase()} ${route.path}`, issues }, 'answer off its response schema');
  throw new AppError(AppErrorCode.Internal, `the answer of ${route.method.toUpperCase()} ${route.path} is off its response schema`);
}

export function registerRoutes(app: Express, deps: ApiDeps, routes: AnyRoute[], web: WebAuth, baseUrl: () => string | undefined): void {
  const nobody = tenantDb(deps.prisma, { orgIds: [] });
  const check = deps.config.checkResponses !== false;
  for (const route of routes) {
    app[route.method](route.path, async (req: Request, res: Response, next: NextFunction) => {
      let principal: Principal | null = null;
      try {
        if (route.auth === 'user') principal = await authenticate(deps, req);
        if (principal?.via === 'session' && !SAFE_METHODS.has(req.method) && !route.readOnlyPost && !web.validCsrf(req)) {
          throw new AppError(AppErrorCode.Forbidden, 'the CSRF token is missing or wrong (send X-CSRF-Token from GET /v1/auth/session)');
        }
        const params = parsePart(route.params, req.params, 'params');
        const query = parsePart(route.query, req.query, 'query');
        const body = route.body ? parsePart(route.body, req.body, 'body') : undefined;
        const fenced = { ...deps, prisma: principal ? tenantDb(deps.prisma, scopeOf(principal)) : nobody };
        const out = await route.handler({ req, res, deps: fenced, system: deps.prisma, principal: principal as Principal, params, query, body, web, baseUrl });
        if (check) checkAnswer(route, out.body, deps);
        res.status(out.status).json(out.body);
      } catch (err) {
        if (principal && err instanceof AppError && err.code === AppErrorCode.NotFound) {
          const ids = [req.params, req.query, req.body].flatMap((part) => (part && typeof part === 'object' ? Object.values(part as object) : []));
          probeCrossTenant(deps.prisma, deps.logger, principal, { method: req.method, path: req.path, ids });
        }
        next(err);
      }
    });
  }
}

const openApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}');

function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const js = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (js.required ?? []).includes(name),
    schema: s,
  }));
}

export function buildOpenApi(routes: AnyRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const p = (paths[openApiPath(r.path)] ??= {});
    p[r.method] = {
      summary: r.summary,
      tags: [r.tag],
      security: r.auth === 'user' ? [{ bearer: [] }, { session: [] }] : [],
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
      responses: Object.fromEntries(
        Object.entries(r.responses).map(([status, description]) => [
          status,
          Number(status) >= 400
            ? { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
            : { description, content: { 'application/json': { schema: jsonSchema(r.response, 'output') } } },
        ]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Gatehouse API', version: '1' },
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Gatehouse API key' },
        session: { type: 'apiKey', in: 'cookie', name: 'gh_session', description: 'Signed-in web session; writes also need X-CSRF-Token' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
        },
      },
    },
  };
}
