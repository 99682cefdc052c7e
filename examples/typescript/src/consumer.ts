// Read Referral Relay outcomes and write referralId / engagementId back to the CRM (TypeScript kit).
//
//   node dist/consumer.js --namespace sb-relay-prod.servicebus.windows.net          # take + write back
//   node dist/consumer.js --namespace sb-relay-prod.servicebus.windows.net --peek   # only look
//
// Outcomes are CloudEvents 1.0 (JSON) on the `outcomes` subscription of `referral-events`. Each
// is completed only after writeBack resolved, so after a crash it comes again: make the
// write-back idempotent (set fields, do not append). Needs "Azure Service Bus Data Receiver" on
// the `outcomes` subscription. No connection strings, no keys.
import { DefaultAzureCredential } from "@azure/identity";
import { ServiceBusClient, type ServiceBusReceivedMessage } from "@azure/service-bus";

export const TOPIC = "referral-events";
export const SUBSCRIPTION = "outcomes";

export interface Outcome {
  crmId: string; // the CloudEvent subject: externalReferenceId, else the inbound MessageId
  eventType: string;
  referralId?: string;
  engagementId?: string;
  connectedReferralId?: string;
  status?: string;
  errors: { path: string; code: string; message: string }[];
  referralMayExist: boolean;
}

/** What this kit needs of ServiceBusReceiver. */
export interface Receiver {
  receiveMessages(max: number, options?: { maxWaitTimeInMs?: number }): Promise<ServiceBusReceivedMessage[]>;
  peekMessages(max: number): Promise<ServiceBusReceivedMessage[]>;
  completeMessage(message: ServiceBusReceivedMessage): Promise<void>;
  abandonMessage(message: ServiceBusReceivedMessage): Promise<void>;
}

/** The SDK hands a JSON data body over parsed, as a string or as bytes: accept all three. */
export function eventOf(message: ServiceBusReceivedMessage): Record<string, unknown> {
  const body: unknown = message.body;
  if (body instanceof Uint8Array) return JSON.parse(Buffer.from(body).toString("utf8"));
  if (typeof body === "string") return JSON.parse(body);
  return body as Record<string, unknown>;
}

export function outcomeOf(event: Record<string, unknown>): Outcome {
  const data = (event.data ?? {}) as Record<string, unknown>;
  const text = (key: string): string | undefined =>
    typeof data[key] === "string" ? (data[key] as string) : undefined;
  const status = [text("status"), text("substatus")].filter(Boolean).join("/");
  return {
    crmId: String(event.subject),
    eventType: String(event.type),
    referralId: text("referralId"),
    engagementId: text("engagementId"),
    connectedReferralId: text("connectedReferralId"),
    status: status || undefined,
    errors: Array.isArray(data.errors) ? (data.errors as Outcome["errors"]) : [],
    referralMayExist: data.referralMayExist === true,
  };
}

/**
 * YOUR CODE: update the CRM record `outcome.crmId`. This default only prints.
 * referral-created / -connected: store referralId and engagementId (and the connected id);
 * referral-rejected: show `errors` (JSON Pointer `path` + `code`) to whoever owns the record;
 * referral-failed: alert; with referralMayExist, do not recreate it by hand.
 */
export async function writeBack(outcome: Outcome): Promise<void> {
  const ids = [
    ["referral", outcome.referralId],
    ["engagement", outcome.engagementId],
    ["connected", outcome.connectedReferralId],
    ["status", outcome.status],
  ]
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${v}`);
  const errors = outcome.errors.map((e) => `error=${e.path} ${e.code}`);
  console.log([outcome.eventType.padEnd(18), `crm=${outcome.crmId}`, ...ids, ...errors].join("  "));
}

/** Receive up to `max` outcomes; complete each after onOutcome resolved, abandon it when it threw. */
export async function receiveOutcomes(
  receiver: Receiver,
  onOutcome: (outcome: Outcome) => Promise<void> = writeBack,
  { max = 100, maxWaitTimeInMs = 5000 } = {},
): Promise<number> {
  let completed = 0;
  while (completed < max) {
    const batch = await receiver.receiveMessages(Math.min(32, max - completed), { maxWaitTimeInMs });
    if (batch.length === 0) return completed;
    for (const message of batch) {
      try {
        await onOutcome(outcomeOf(eventOf(message)));
      } catch (error) {
        await receiver.abandonMessage(message); // delivered again; dead-lettered after 10
        throw error;
      }
      await receiver.completeMessage(message);
      completed += 1;
    }
  }
  return completed;
}

/** Look at up to `max` outcomes without taking them off the subscription. */
export async function peekOutcomes(
  receiver: Receiver,
  onOutcome: (outcome: Outcome) => Promise<void> = writeBack,
  max = 100,
): Promise<number> {
  const messages = await receiver.peekMessages(max);
  for (const message of messages) await onOutcome(outcomeOf(eventOf(message)));
  return messages.length;
}

async function main(argv: string[]): Promise<number> {
  const at = argv.indexOf("--namespace");
  const namespace = at >= 0 ? argv[at + 1] : undefined;
  if (!namespace) {
    console.error("usage: consumer --namespace NS [--peek]");
    return 2;
  }
  const fqdn = namespace.includes(".") ? namespace : `${namespace}.servicebus.windows.net`;
  const client = new ServiceBusClient(fqdn, new DefaultAzureCredential());
  const receiver = client.createReceiver(TOPIC, SUBSCRIPTION);
  try {
    const count = argv.includes("--peek")
      ? await peekOutcomes(receiver)
      : await receiveOutcomes(receiver);
    console.error(`${count} outcome(s)`);
  } finally {
    await receiver.close();
    await client.close();
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
