// Map one CRM opportunity to the Partner Center create-referral body. Adapt to your CRM.
// Private deal by default (not shared with Microsoft); with shareWithMicrosoft and a solutionId
// it becomes a co-sell request, which needs a customer contact.

export interface Opportunity {
  id: string;
  title: string;
  account: { name: string; city?: string; countryCode: string };
  contact?: { firstName: string; lastName: string; email?: string; phoneNumber?: string } | null;
  amount?: number;
  currency?: string;
  closeDate?: string | null;
  notes?: string | null;
  shareWithMicrosoft?: boolean;
  solutionId?: string | null;
}

export type Referral = Record<string, unknown> & { externalReferenceId: string };

export function referralFromOpportunity(opportunity: Opportunity): Referral {
  const share = Boolean(opportunity.shareWithMicrosoft);
  const contact = opportunity.contact ?? null;
  const customerProfile: Record<string, unknown> = {
    name: opportunity.account.name,
    address: { city: opportunity.account.city, country: opportunity.account.countryCode },
  };
  if (contact) {
    const { firstName, lastName, email, phoneNumber } = contact;
    customerProfile.team = [{ firstName, lastName, email, phoneNumber }];
  }
  const details: Record<string, unknown> = {
    dealValue: opportunity.amount ?? 0,
    currency: opportunity.currency ?? "USD",
  };
  if (opportunity.closeDate) details.closingDateTime = `${opportunity.closeDate}T00:00:00Z`;
  if (opportunity.notes) details.notes = opportunity.notes;
  const referral: Referral = {
    externalReferenceId: opportunity.id, // the idempotency key: the CRM id
    name: opportunity.title,
    type: share ? "Shared" : "Independent",
    customerProfile,
    consent: {
      consentToToShareInfoWithOthers: share, // the API's spelling, two "To"s
      consentToContact: contact !== null,
      consentToShareReferralWithMicrosoftSellers: share,
    },
    details,
  };
  if (share && opportunity.solutionId) {
    referral.target = [{ type: "SolutionProfile", id: opportunity.solutionId }];
    details.requirements = { solutions: [{ id: opportunity.solutionId }] };
  }
  return referral;
}
