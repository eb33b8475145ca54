/**
 * One span per HTTP request (OpenTelemetry, a no-op while tracing is off), active for everything the request does:
 * the Temporal client carries it into the workflow's headers, so a message's trace starts here. It continues a
 * caller's `traceparent` header. Named by the route's template (`POST /v1/sessions/:id/messages`), never by the
 * URL: paths carry ids, and approval links carry their token.
 */
import type { RequestHandler } from 'express';
import { contextOfHeaders, markError, SpanKind, startSpan, withSpan } from '../../lib/tracing';

export function traceRequests(): RequestHandler {
  return (req, res, next) => {
    const span = startSpan(req.method, { parent: contextOfHeaders(req.headers), kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method } });
    res.once('finish', () => {
      const route = req.route as { path?: unknown } | undefined;
      if (typeof route?.path === 'string') {
        const template = `${req.baseUrl}${route.path}`;
        span.updateName(`${req.method} ${template}`);
        span.setAttribute('http.route', template);
      }
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) markError(span);
      span.end();
    });
    withSpan(span, next, [req, res]);
  };
}
