// Publish CRM opportunities to Referral Relay as Partner Center referrals (TypeScript kit).
//
//   node dist/publisher.js --namespace sb-relay-prod.servicebus.windows.net ../crm-opportunity.json
//
// Body = the create-referral JSON, MessageId = the CRM id: the relay makes exactly one referral
// per CRM id however often it is sent. Signs in with DefaultAzureCredential (managed identity in
// Azure, `az login` on a workstation), which needs "Azure Service Bus Data Sender" on the queue.
// No connection strings, no keys.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { DefaultAzureCredential } from "@azure/identity";
import { ServiceBusClient, type ServiceBusMessage } from "@azure/service-bus";
import { type Opportunity, type Referral, referralFromOpportunity } from "./crm";

export const QUEUE = "referral-requests";

/** What this kit needs of ServiceBusSender. */
export interface Sender {
  sendMessages(message: ServiceBusMessage): Promise<void>;
}

export function referralMessage(referral: Referral, source = "crm"): ServiceBusMessage {
  return {
    // A Buffer, not an object: the SDK would encode an object as an AMQP value, which a
    // receiver outside JavaScript (the relay's Python function) does not read as JSON.
    body: Buffer.from(JSON.stringify(referral), "utf8"),
    messageId: referral.externalReferenceId, // duplicate detection + the relay's ledger key
    correlationId: randomUUID(), // ties the trace in Application Insights together
    contentType: "application/json",
    applicationProperties: { source },
  };
}

/** Send one referral; returns its MessageId (the CRM id). */
export async function sendReferral(sender: Sender, referral: Referral): Promise<string> {
  const message = referralMessage(referral);
  await sender.sendMessages(message);
  return String(message.messageId);
}

export function fullyQualified(namespace: string): string {
  return namespace.includes(".") ? namespace : `${namespace}.servicebus.windows.net`;
}

async function main(argv: string[]): Promise<number> {
  const at = argv.indexOf("--namespace");
  const namespace = at >= 0 ? argv[at + 1] : undefined;
  const paths = argv.filter((_, i) => i !== at && i !== at + 1);
  if (!namespace || paths.length === 0) {
    console.error("usage: publisher --namespace NS OPPORTUNITY.json...");
    return 2;
  }
  const client = new ServiceBusClient(fullyQualified(namespace), new DefaultAzureCredential());
  const sender = client.createSender(QUEUE);
  try {
    for (const path of paths) {
      const opportunity = JSON.parse(readFileSync(path, "utf8")) as Opportunity;
      console.log(`sent MessageId=${await sendReferral(sender, referralFromOpportunity(opportunity))}`);
    }
  } finally {
    await sender.close();
    await client.close();
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
