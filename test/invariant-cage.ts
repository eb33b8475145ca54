/**
 * The system a randomized run of the cage runs on: the whole system (real Temporal, PostgreSQL, Redis, api, worker,
 * simulated agents) with the hostile model as the copilot's model, Slack faked at the wire and a real SMTP receiver
 * for emailed links; and the people and devices the plans of test/invariant-plan.ts name symbolically.
 */
import crypto from 'node:crypto';
import { startTestSystem, type TestSystem } from './harness';
import { HostileModel } from './hostile-model';
import type { DeviceBook, PersonName } from './invariant-plan';
import { FakeSlack, SmtpInbox } from './services';
import { linkOwnSlackAccount } from './slack';
import { hashPassword } from '../lib/passwords';

/** The people who link their Slack accounts; anyone else clicking in Slack is a stranger to Gatehouse. */
export const SLACK_LINKED: readonly PersonName[] = ['technician', 'admin', 'approver', 'narrowedApprover', 'globexApprover'];

export const SIGNING_SECRET = 'invariants-signing-secret-0123456789';

export interface Person {
  userId: string;
  key: string;
  email: string;
  /** For the web sign-in that linking a Slack account and deciding a T4 link need. */
  password: string;
  /** Linked to this Slack user (as its own admin linked it); unlinked people click as strangers. */
  slackId: string;
  acting: boolean;
  approver: boolean;
  admin: boolean;
}

export interface Cage {
  sys: TestSystem;
  model: HostileModel;
  slack: FakeSlack;
  inbox: SmtpInbox;
  team: string;
  people: Record<PersonName, Person>;
  book: DeviceBook;
  otherOrgMarkers: string[];
  runs: number;
}

/**
 * The whole system with the hostile model, Slack and mail, and the people and devices plans refer to: `simulated`
 * endpoints at acme's first site and one more, online too, at its second (the warehouse).
 */
export async function startCage(opts: { simulated: number }): Promise<Cage> {
  const model = await HostileModel.start();
  const slack = await FakeSlack.start();
  const inbox = await SmtpInbox.start();
  const sys = await startTestSystem({
    simulated: opts.simulated + 1,
    modelUrl: model.url,
    env: {
      SLACK_BOT_TOKEN: 'xoxb-invariants-0123',
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.url,
      SMTP_URL: inbox.url,
      // Plans send many messages quickly; these runs are about the cage, not the message rate.
      RATE_USER_MESSAGES_PER_MINUTE: '1000',
      RATE_ORG_MESSAGES_PER_HOUR: '100000',
      RATE_WINDOW_SCALE: '0.05',
      // Huge inputs make costly requests; a long bench must not end up testing only the budget's refusals.
      DEFAULT_DAILY_BUDGET_USD: '100000',
      DEFAULT_MONTHLY_BUDGET_USD: '1000000',
      DEFAULT_HOURLY_SPEND_USD: '100000',
    },
  });
  const team = `T0${crypto.randomBytes(4).toString('hex').toUpperCase()}`;
  const { acme, globex } = sys.seed.orgs;
  const adminKey = sys.keyOf('admin');
  const userOf = async (role: 'technician' | 'admin' | 'approver' | 'auditor', org: 'acme' | 'globex' = 'acme') => {
    const cred = sys.seed.credentials.find((c) => c.role === role && (role === 'auditor' || c.org === sys.seed.orgs[org].slug))!;
    const user = await sys.prisma.user.findUniqueOrThrow({ where: { email: cred.email } });
    return { userId: user.id, key: cred.apiKey, email: cred.email, password: cred.password };
  };
  const narrowed = await sys.createUser(['approver']);
  await sys.prisma.roleBinding.updateMany({ where: { userId: narrowed.userId, orgId: acme.id }, data: { siteIds: [acme.siteIds[1]!] } });
  const narrowedPassword = crypto.randomBytes(12).toString('hex');
  const narrowedUser = await sys.prisma.user.update({ where: { id: narrowed.userId }, data: { passwordHash: await hashPassword(narrowedPassword) } });
  const base = { acting: false, approver: false, admin: false };
  const people: Record<PersonName, Person> = {
    technician: { ...base, ...(await userOf('technician')), slackId: 'U0TECH', acting: true },
    // The admin grants itself the approver role (audited, allowed): the cage must still keep it from approving its own T4 calls.
    admin: { ...base, ...(await userOf('admin')), slackId: 'U0ADMIN', acting: true, approver: true, admin: true },
    approver: { ...base, ...(await userOf('approver')), slackId: 'U0APPROVER', approver: true },
    auditor: { ...base, ...(await userOf('auditor')), slackId: 'U0AUDITOR' },
    narrowedApprover: { ...base, ...narrowed, email: narrowedUser.email, password: narrowedPassword, slackId: 'U0NARROW', approver: true },
    globexTechnician: { ...base, ...(await userOf('technician', 'globex')), slackId: 'U0GLOBEXTECH' },
    globexApprover: { ...base, ...(await userOf('approver', 'globex')), slackId: 'U0GLOBEXAPP' },
  };
  const must = async (what: string, res: Promise<{ status: number; body: unknown }>) => {
    const r = await res;
    if (r.status >= 300) throw new Error(`setting up the cage: ${what} answered ${r.status} ${JSON.stringify(r.body)}`);
  };
  await must('self-granted approver', sys.request('POST', `/v1/orgs/${acme.slug}/bindings`, { key: adminKey, body: { userId: people.admin.userId, role: 'approver' } }));
  await must('slack channel', sys.request('PUT', `/v1/orgs/${acme.slug}/slack`, { key: adminKey, body: { teamId: team, channelId: 'C0APPROVALS' } }));
  // Each of them links their own Slack account (the only way there is); the auditor and globex's technician do not.
  for (const name of SLACK_LINKED) {
    await linkOwnSlackAccount(sys, slack, SIGNING_SECRET, { teamId: team, slackUserId: people[name].slackId }, people[name]);
  }
  // Short approval windows: an approval nobody decides expires (a rejection) within the run.
  await must('policy', sys.request('PUT', `/v1/orgs/${acme.slug}/policy`, { key: adminKey, body: { overrides: [], approvalTtlSeconds: { t3: 20, t4: 20 }, reason: 'invariant run' } }));

  // The warehouse is a connected endpoint like the others, moved to the second site. An enrolled device with no
  // agent behind it held every command sent to it until the command's TTL (10 minutes, as it would for a user: a
  // device that is offline answers when it reconnects), so a run that read from it waited the driver's bounds out.
  const [warehouseName, warehouseId] = [...sys.simulated].sort(([a], [b]) => a.localeCompare(b)).at(-1)!;
  const moved = await sys.prisma.device.update({ where: { id: warehouseId }, data: { siteId: acme.siteIds[1]! } });
  const foreign = await sys.enrollDevice(`GLOBEX-SRV-${crypto.randomBytes(3).toString('hex')}`, 'globex');
  const globexDevice = await sys.prisma.device.findUniqueOrThrow({ where: { id: foreign.deviceId } });
  const book: DeviceBook = {
    acme: [...sys.simulated].filter(([, id]) => id !== moved.id).map(([name, id]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name)),
    warehouse: { id: moved.id, name: warehouseName },
    globex: { id: globexDevice.id, name: globexDevice.name },
    globexOrgId: globex.id,
  };
  const globexOrg = await sys.prisma.organization.findUniqueOrThrow({ where: { id: globex.id } });
  const otherOrgMarkers = [globexDevice.id, globexDevice.name, globexDevice.hostname, globexOrg.name, globexOrg.slug, globex.id, 'Main Office', people.globexTechnician.email, people.globexApprover.email];
  return { sys, model, slack, inbox, team, people, book, otherOrgMarkers, runs: 0 };
}

export async function stopCage(cage: Cage | undefined): Promise<void> {
  if (!cage) return;
  await cage.sys.stop();
  await cage.model.stop();
  await cage.slack.stop();
  await cage.inbox.stop();
}
