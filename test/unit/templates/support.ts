import type { TemplateDraft } from '#shared/domain/template.ts';

/** What a call threw (its name, code and message are what a client sees), or fails the test if nothing was thrown. */
export function thrownBy(act: () => unknown): { name: string; code?: string; message: string } {
  try {
    act();
  } catch (err) {
    return err as { name: string; code?: string; message: string };
  }
  throw new Error('expected the call to throw, it returned');
}

/** A valid draft with every channel, for tests to vary one thing at a time. */
export function sampleDraft(overrides: Partial<TemplateDraft> = {}): TemplateDraft {
  return {
    name: 'Outage notice',
    locale: 'en-GB',
    variables: [
      { name: 'first_name', required: true },
      { name: 'eta', required: false },
    ],
    content: {
      sms: { body: 'Hi {{first_name}}, service is down. Back by {{ eta }}.' },
      email: {
        subject: 'Service notice for {{first_name}}',
        text: 'Hi {{first_name}},\nService is down. Back by {{eta}}.',
        html: '<p>Hi <b>{{first_name}}</b>, back by {{eta}}.</p>',
      },
      chat: { body: 'Hi {{first_name}}! Back by {{eta}}.' },
      voice: { say: 'Hello {{first_name}}. Service is down.' },
    },
    ...overrides,
  };
}
