// Runs the TypeScript kit's own functions against a fake sender / receiver that speak JSON lines
// with tests/examples/test_typescript_kit.py, which carries the messages through the local host's
// broker and the real functions. `publish OPPORTUNITY.json` prints each message the kit sent;
// `consume OUTCOMES.json` hands the kit those outcome messages (bodies in the three shapes the
// SDK may deliver) and prints each write-back and each settlement.
import { readFileSync } from "node:fs";
import type { ServiceBusMessage, ServiceBusReceivedMessage } from "@azure/service-bus";
import { type Opportunity, referralFromOpportunity } from "../../../examples/typescript/src/crm";
import { QUEUE, sendReferral } from "../../../examples/typescript/src/publisher";
import { SUBSCRIPTION, TOPIC, receiveOutcomes } from "../../../examples/typescript/src/consumer";

const print = (value: unknown): void => console.log(JSON.stringify(value));

async function publish(path: string): Promise<void> {
  const sent: ServiceBusMessage[] = [];
  const sender = {
    async sendMessages(message: ServiceBusMessage): Promise<void> {
      if (!Buffer.isBuffer(message.body)) throw new Error("the body must be bytes");
      sent.push(message);
    },
  };
  const opportunity = JSON.parse(readFileSync(path, "utf8")) as Opportunity;
  await sendReferral(sender, referralFromOpportunity(opportunity));
  for (const m of sent) {
    print({
      queue: QUEUE,
      body: (m.body as Buffer).toString("utf8"),
      messageId: m.messageId,
      correlationId: m.correlationId,
      contentType: m.contentType,
      applicationProperties: m.applicationProperties,
    });
  }
}

async function consume(path: string): Promise<void> {
  const incoming = JSON.parse(readFileSync(path, "utf8")) as { body: string; messageId: string }[];
  const shapes = (body: string): unknown[] => [JSON.parse(body), body, Buffer.from(body, "utf8")];
  const messages = incoming.map(
    (m, i) => ({ messageId: m.messageId, body: shapes(m.body)[i % 3] }) as unknown as ServiceBusReceivedMessage,
  );
  let served = false;
  const receiver = {
    async receiveMessages(max: number): Promise<ServiceBusReceivedMessage[]> {
      if (served) return [];
      served = true;
      return messages.slice(0, max);
    },
    async peekMessages(max: number): Promise<ServiceBusReceivedMessage[]> {
      return messages.slice(0, max);
    },
    async completeMessage(m: ServiceBusReceivedMessage): Promise<void> {
      print({ settled: "complete", messageId: m.messageId });
    },
    async abandonMessage(m: ServiceBusReceivedMessage): Promise<void> {
      print({ settled: "abandon", messageId: m.messageId });
    },
  };
  const completed = await receiveOutcomes(receiver, async (o) => print({ writeBack: o }), {
    maxWaitTimeInMs: 0,
  });
  print({ topic: TOPIC, subscription: SUBSCRIPTION, completed });
}

const [mode, path] = process.argv.slice(2);
const run = mode === "publish" ? publish : mode === "consume" ? consume : undefined;
if (!run || !path) {
  console.error("usage: harness publish|consume FILE");
  process.exit(2);
}
run(path).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
