// A session's audit timeline, as `npm run audit -- replay` prints it: read from the workflow histories, with the
// approvals cross-checked against the audit log. Each tool call shows the policy version it was decided under, so
// an older session still reads under the rules it ran with after the policy changed.
import { get } from '../lib/api.js';
import { el, externalLink, replace } from '../lib/dom.js';

export function timelineView(main, _ctx, [sessionId]) {
  const body = el('div', {}, el('p', { class: 'muted' }, 'Reading the workflow histories…'));
  main.append(el('h1', {}, 'Audit timeline'), el('p', {}, el('a', { href: `#/sessions/${sessionId}` }, '← Back to the session')), body);
  get(`/v1/sessions/${sessionId}/timeline`).then(
    (t) => {
      const cc = t.crossCheck;
      const consistent = cc.missingInAudit.length === 0 && cc.missingInHistory.length === 0 && t.alteredEvents.length === 0;
      replace(
        body,
        el('p', {}, 'Workflow ', el('code', {}, t.workflowId), ' · ', externalLink(t.temporalUrl, 'Temporal Web UI')),
        el(
          'p',
          { class: consistent ? 'badge ok' : 'badge danger' },
          consistent
            ? `Approvals cross-checked: ${cc.matched} decision(s) in both the history and the audit log`
            : `Mismatch: ${cc.missingInAudit.length} decision(s) missing in the audit log, ${cc.missingInHistory.length} missing in the history, ${t.alteredEvents.length} altered audit event(s)`,
        ),
        el(
          'table',
          { class: 'timeline' },
          el('thead', {}, el('tr', {}, ['Time', 'Kind', 'What', 'Policy'].map((h) => el('th', { scope: 'col' }, h)))),
          el(
            'tbody',
            {},
            t.entries.map((e) =>
              el(
                'tr',
                { class: e.kind },
                el('td', {}, el('time', { datetime: e.time }, new Date(e.time).toLocaleTimeString())),
                el('td', {}, e.kind),
                el('td', {}, e.text),
                el('td', { class: 'policy-version' }, typeof e.policyVersion === 'number' ? `version ${e.policyVersion}` : ''),
              ),
            ),
          ),
        ),
      );
    },
    (err) => replace(body, el('p', { role: 'alert', class: 'error' }, err.message)),
  );
}
