import { describe, expect, it } from 'vitest';
import type { TemplateVersion } from '#shared/domain/template.ts';
import { renderTemplate } from '#shared/templates/render.ts';
import { sampleDraft, thrownBy } from '#test/unit/templates/support.ts';

type Renderable = Pick<TemplateVersion, 'variables' | 'content'>;

describe('renderTemplate', () => {
  it('fills each channel with the values, spaces inside braces allowed', () => {
    // Prepare
    const template = sampleDraft();
    const values = { first_name: 'Ada', eta: '14:00' };

    // Act
    const sms = renderTemplate(template, 'sms', values);
    const email = renderTemplate(template, 'email', values);
    const chat = renderTemplate(template, 'chat', values);
    const voice = renderTemplate(template, 'voice', values);

    // Assess
    expect(sms).toEqual({ channel: 'sms', body: 'Hi Ada, service is down. Back by 14:00.' });
    expect(email).toEqual({
      channel: 'email',
      subject: 'Service notice for Ada',
      body: 'Hi Ada,\nService is down. Back by 14:00.',
      html: '<p>Hi <b>Ada</b>, back by 14:00.</p>',
    });
    expect(chat).toEqual({ channel: 'chat', body: 'Hi Ada! Back by 14:00.' });
    expect(voice).toEqual({ channel: 'voice', body: 'Hello Ada. Service is down.' });
  });

  it('escapes values in email html but keeps them as written in subject and text', () => {
    // Prepare
    const template = sampleDraft();
    const hostile = `<script>alert("x")</script> & 'q' \`b\``;

    // Act
    const email = renderTemplate(template, 'email', { first_name: hostile });

    // Assess
    expect(email.html).toBe(
      '<p>Hi <b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; &#96;b&#96;</b>, back by .</p>',
    );
    expect(email.subject).toBe(`Service notice for ${hostile}`);
    expect(email.body).toBe(`Hi ${hostile},\nService is down. Back by .`);
  });

  it('has no html when the template has none', () => {
    // Prepare
    const template: Renderable = { variables: [], content: { email: { subject: 'S', text: 'T' } } };

    // Act
    const email = renderTemplate(template, 'email', {});

    // Assess
    expect(email).toEqual({ channel: 'email', subject: 'S', body: 'T' });
    expect('html' in email).toBe(false);
  });

  it('never expands a placeholder that arrives inside a value', () => {
    // Prepare
    const template = sampleDraft();

    // Act
    const sms = renderTemplate(template, 'sms', { first_name: '{{eta}}', eta: '{{first_name}}' });

    // Assess
    expect(sms.body).toBe('Hi {{eta}}, service is down. Back by {{first_name}}.');
  });

  it('refuses a missing required variable with a 422 naming it', () => {
    // Prepare
    const template = sampleDraft();

    // Act
    const err = thrownBy(() => renderTemplate(template, 'sms', { eta: '14:00' }));

    // Assess
    expect(err).toMatchObject({ name: 'UnprocessableError', code: 'missing_variable', message: 'Missing required variable: first_name' });
  });

  it('names every missing required variable at once', () => {
    // Prepare
    const template: Renderable = {
      variables: [
        { name: 'a', required: true },
        { name: 'b', required: false },
        { name: 'c', required: true },
      ],
      content: { chat: { body: '{{a}}{{b}}{{c}}' } },
    };

    // Act
    const err = thrownBy(() => renderTemplate(template, 'chat', { b: 'x' }));

    // Assess
    expect(err).toMatchObject({ code: 'missing_variable', message: 'Missing required variables: a, c' });
  });

  it('counts a blank value of a required variable as missing', () => {
    // Prepare
    const template = sampleDraft();

    // Act
    const err = thrownBy(() => renderTemplate(template, 'sms', { first_name: '  ' }));

    // Assess
    expect(err).toMatchObject({ code: 'missing_variable', message: 'Missing required variable: first_name' });
  });

  it('requires what the template declares required, even for a channel that does not use it', () => {
    // Prepare
    const template: Renderable = {
      variables: [{ name: 'link', required: true }],
      content: { sms: { body: 'Service is down.' }, email: { subject: 'Down', text: 'See {{link}}' } },
    };

    // Act
    const err = thrownBy(() => renderTemplate(template, 'sms', {}));

    // Assess
    expect(err).toMatchObject({ code: 'missing_variable', message: 'Missing required variable: link' });
  });

  it('renders an optional variable left out as empty and ignores undeclared ones', () => {
    // Prepare
    const template = sampleDraft();

    // Act
    const chat = renderTemplate(template, 'chat', { first_name: 'Ada', unknown: 'ignored' });

    // Assess
    expect(chat.body).toBe('Hi Ada! Back by .');
  });

  it("never takes a value from Object.prototype for a variable called like one of its members", () => {
    // Prepare
    const template: Renderable = {
      variables: [
        { name: 'constructor', required: true },
        { name: 'toString', required: false },
      ],
      content: { sms: { body: '[{{constructor}}][{{toString}}]' } },
    };

    // Act
    const missing = thrownBy(() => renderTemplate(template, 'sms', {}));
    const sms = renderTemplate(template, 'sms', { constructor: 'C' });

    // Assess
    expect(missing).toMatchObject({ code: 'missing_variable', message: 'Missing required variable: constructor' });
    expect(sms.body).toBe('[C][]');
  });

  it('refuses a channel the template has no content for', () => {
    // Prepare
    const template: Renderable = { variables: [], content: { sms: { body: 'Hi' } } };

    // Act
    const err = thrownBy(() => renderTemplate(template, 'voice', {}));

    // Assess
    expect(err).toMatchObject({ name: 'UnprocessableError', code: 'channel_not_in_template', message: 'Template has no voice content' });
  });

  it('refuses, rather than guesses at, a stored template that never passed the draft checks', () => {
    // Prepare
    const undeclared: Renderable = { variables: [], content: { sms: { body: 'Hi {{who}}' } } };
    const malformed: Renderable = { variables: [], content: { sms: { body: 'Hi {{#if x}}' } } };

    // Act
    const errors = [thrownBy(() => renderTemplate(undeclared, 'sms', { who: 'Ada' })), thrownBy(() => renderTemplate(malformed, 'sms', {}))];

    // Assess
    expect(errors).toMatchObject([
      { code: 'undeclared_placeholder', message: 'Undeclared placeholder: who' },
      { code: 'malformed_placeholder', message: 'Malformed placeholder in content.sms.body: "{{#if x}}"' },
    ]);
  });

  it('refuses a value that is not a string', () => {
    // Prepare
    const template = sampleDraft();
    const values = { first_name: 42 } as unknown as Record<string, string>;

    // Act
    const err = thrownBy(() => renderTemplate(template, 'sms', values));

    // Assess
    expect(err).toMatchObject({ name: 'ValidationError', message: 'Variable first_name must be a string' });
  });

  describe('variable lengths: an agent fills a template in, it does not write an unapproved message into it', () => {
    it('refuses a value over the default 200 characters with a 422 naming it, and takes one of 200', () => {
      const template = sampleDraft();
      expect(renderTemplate(template, 'sms', { first_name: 'A'.repeat(200) }).body).toContain('A'.repeat(200));
      const err = thrownBy(() => renderTemplate(template, 'sms', { first_name: 'Ada', eta: 'x'.repeat(201) }));
      expect(err).toMatchObject({ name: 'UnprocessableError', code: 'variable_too_long' });
      expect(err.message).toBe('Variable too long: eta (at most 200 characters)');
    });

    it('holds a value to the maxLength the template declares (what the approver saw), on every channel', () => {
      const template = sampleDraft({
        variables: [
          { name: 'first_name', required: true, maxLength: 20 },
          { name: 'eta', required: false, maxLength: 500 },
        ],
      });
      expect(renderTemplate(template, 'email', { first_name: 'Ada', eta: 'e'.repeat(500) }).body).toContain('e'.repeat(500));
      for (const channel of ['sms', 'email', 'chat', 'voice'] as const) {
        expect(thrownBy(() => renderTemplate(template, channel, { first_name: 'f'.repeat(21) })).code, channel).toBe('variable_too_long');
      }
      expect(thrownBy(() => renderTemplate(template, 'sms', { first_name: 'Ada', eta: 'e'.repeat(501) })).message).toContain('eta (at most 500 characters)');
    });
  });
});
