import { describe, expect, it } from 'vitest';
import { checkDraft, MAX_VARIABLES, parseDraft } from '#shared/templates/draft-schema.ts';
import { sampleDraft, thrownBy } from '#test/unit/templates/support.ts';

/** A draft with one SMS body and the variables it names, all declared. */
const smsDraft = (body: string, variables: string[] = []) => ({
  name: 'T',
  variables: variables.map((name) => ({ name, required: false })),
  content: { sms: { body } },
});

describe('parseDraft', () => {
  it('returns exactly the draft the editor sent', () => {
    // Prepare
    const body = JSON.parse(JSON.stringify(sampleDraft()));
    const minimal = { name: 'Hi', variables: [], content: { chat: { body: 'Hello' } } };

    // Act
    const draft = parseDraft(body);
    const small = parseDraft(minimal);

    // Assess
    expect(draft).toEqual(sampleDraft());
    expect(small).toStrictEqual(minimal);
  });

  it('names every bad field, unknown keys included, in a 400', () => {
    // Prepare
    const body = {
      name: '',
      locale: 'English!',
      variables: [{ name: 'a' }, { name: 'b', required: true, default: 'x' }],
      content: { sms: { body: 'x'.repeat(1601), mediaUrl: 'https://example.com/a.png' }, fax: { body: 'x' } },
      owner: 'me',
    };

    // Act
    const err = thrownBy(() => parseDraft(body));

    // Assess
    expect(err.name).toBe('ValidationError');
    expect(err.code).toBe('bad_request');
    expect(err.message).toMatch(/^Invalid template fields: /);
    for (const field of ['name', 'locale', 'variables.0.required', 'variables.1.default', 'content.sms.body', 'content.sms.mediaUrl', 'content.fax', 'owner']) {
      expect(err.message.split(': ')[1]!.split(', ')).toContain(field);
    }
  });

  it.each([null, [], 'template', 42, {}])('refuses %j as a body with a 400', (body) => {
    // Act
    const err = thrownBy(() => parseDraft(body));

    // Assess
    expect(err.name).toBe('ValidationError');
  });

  it.each([
    ['a name over 200 characters', { name: 'n'.repeat(201) }, 'name'],
    ['a blank name', { name: '   ' }, 'name'],
    [`more than ${MAX_VARIABLES} variables`, { variables: Array.from({ length: 51 }, (_, i) => ({ name: `v${i}`, required: false })) }, 'variables'],
    ['an email subject over 998 characters', { content: { email: { subject: 's'.repeat(999), text: 't' } } }, 'content.email.subject'],
    ['an email text over 100 000 characters', { content: { email: { subject: 's', text: 't'.repeat(100_001) } } }, 'content.email.text'],
    ['an email html over 200 000 characters', { content: { email: { subject: 's', text: 't', html: 'h'.repeat(200_001) } } }, 'content.email.html'],
    ['a chat body over 4000 characters', { content: { chat: { body: 'c'.repeat(4001) } } }, 'content.chat.body'],
    ['a voice text over 4000 characters', { content: { voice: { say: 'v'.repeat(4001) } } }, 'content.voice.say'],
    ['an email without text', { content: { email: { subject: 's' } } }, 'content.email.text'],
    ['a required flag that is not a boolean', { variables: [{ name: 'a', required: 'yes' }] }, 'variables.0.required'],
    ['a variable maxLength of 0', { variables: [{ name: 'a', required: false, maxLength: 0 }] }, 'variables.0.maxLength'],
    ['a variable maxLength over 1000', { variables: [{ name: 'a', required: false, maxLength: 1001 }] }, 'variables.0.maxLength'],
    ['a variable maxLength that is not a whole number', { variables: [{ name: 'a', required: false, maxLength: 2.5 }] }, 'variables.0.maxLength'],
  ])('refuses %s, naming the field', (_, change, field) => {
    // Prepare
    const body = { ...smsDraft('Hi'), ...change };

    // Act
    const err = thrownBy(() => parseDraft(body));

    // Assess
    expect(err).toMatchObject({ name: 'ValidationError', message: `Invalid template fields: ${field}` });
  });

  it.each(['en', 'en-GB', 'es-419', 'zh-Hant-TW', 'fil'])('takes the locale %s', (locale) => {
    expect(parseDraft({ ...smsDraft('Hi'), locale }).locale).toBe(locale);
  });

  it.each(['', 'e', 'english', 'en_GB', 'en-', '12'])('refuses the locale %j', (locale) => {
    expect(thrownBy(() => parseDraft({ ...smsDraft('Hi'), locale }))).toMatchObject({ message: 'Invalid template fields: locale' });
  });

  it('takes content at the length limits', () => {
    // Prepare
    const body = {
      name: 'n'.repeat(200),
      variables: [],
      content: { sms: { body: 's'.repeat(1600) }, chat: { body: 'c'.repeat(4000) }, voice: { say: 'v'.repeat(4000) } },
    };

    // Act
    const draft = parseDraft(body);

    // Assess
    expect(draft.content.sms?.body).toHaveLength(1600);
  });

  it('runs the content checks after the shape checks (422)', () => {
    expect(thrownBy(() => parseDraft(smsDraft('Hi {{who}}')))).toMatchObject({ name: 'UnprocessableError', code: 'undeclared_placeholder' });
  });
});

describe('checkDraft', () => {
  it('accepts declared placeholders, with or without spaces inside the braces', () => {
    expect(() => checkDraft(smsDraft('{{a}} {{ b }} {{\tc\t}} {{_d9}} { single } braces', ['a', 'b', 'c', '_d9']))).not.toThrow();
  });

  it('refuses an undeclared placeholder with a 422 naming it', () => {
    // Prepare
    const draft = sampleDraft({ variables: [{ name: 'first_name', required: true }] });

    // Act
    const err = thrownBy(() => checkDraft(draft));

    // Assess
    expect(err).toMatchObject({ name: 'UnprocessableError', code: 'undeclared_placeholder', message: 'Undeclared placeholder: eta' });
  });

  it('names every undeclared placeholder across channels, once each', () => {
    // Prepare
    const draft = {
      name: 'T',
      variables: [],
      content: { sms: { body: '{{a}} {{b}}' }, email: { subject: '{{c}}', text: '{{a}}', html: '{{d}}' }, voice: { say: '{{b}}' } },
    };

    // Act
    const err = thrownBy(() => checkDraft(draft));

    // Assess
    expect(err).toMatchObject({ code: 'undeclared_placeholder', message: 'Undeclared placeholders: a, b, c, d' });
  });

  it('treats placeholder names as case-sensitive', () => {
    expect(thrownBy(() => checkDraft(smsDraft('{{Name}}', ['name'])))).toMatchObject({ message: 'Undeclared placeholder: Name' });
  });

  it.each([
    ['{{', '{{'],
    ['Hi {{name', '{{name'],
    ['Hi name}}', '}}'],
    ['{{ 1x }}', '{{ 1x }}'],
    ['{{}}', '{{}}'],
    ['{{ }}', '{{ }}'],
    ['{{{name}}}', '{{{name}}}'],
    ['{{name}}}', '{{name}}}'],
    ['{{ {{name}} }}', '{{ {{name}}'],
    ['{{first name}}', '{{first name}}'],
    ['{{user.name}}', '{{user.name}}'],
    ['{{#each items}}', '{{#each items}}'],
    ['{{> partial}}', '{{> partial}}'],
    ['{{name | upper}}', '{{name | upper}}'],
    ['{{\nname}}', '{{\nname}}'],
    [`{{${'n'.repeat(65)}}}`, `{{${'n'.repeat(65)}}}`],
  ])('refuses the malformed placeholder in %j, quoting it', (body, culprit) => {
    // Act
    const err = thrownBy(() => checkDraft(smsDraft(body, ['name'])));

    // Assess
    expect(err).toMatchObject({
      name: 'UnprocessableError',
      code: 'malformed_placeholder',
      message: `Malformed placeholder in content.sms.body: ${JSON.stringify(culprit)}`,
    });
  });

  it('says which field holds the malformed placeholder', () => {
    // Prepare
    const draft = sampleDraft();
    draft.content.email!.html = '<p>{{first_name}</p>';

    // Act
    const err = thrownBy(() => checkDraft(draft));

    // Assess
    expect(err.message).toBe('Malformed placeholder in content.email.html: "{{first_name}</p>"');
  });

  it('takes a 64-character variable name and refuses a 65-character one', () => {
    // Prepare
    const longest = 'v'.repeat(64);
    const tooLong = 'v'.repeat(65);

    // Act
    const accepted = () => checkDraft(smsDraft(`{{${longest}}}`, [longest]));
    const err = thrownBy(() => checkDraft(smsDraft('Hi', [tooLong])));

    // Assess
    expect(accepted).not.toThrow();
    expect(err).toMatchObject({ code: 'invalid_variable' });
    expect(err.message).toContain(tooLong);
  });

  it.each(['', '1x', 'first-name', 'first name', 'é', '{{x}}', '__proto__'])('refuses the variable name %j', (name) => {
    expect(thrownBy(() => checkDraft(smsDraft('Hi', [name])))).toMatchObject({ name: 'UnprocessableError', code: 'invalid_variable' });
  });

  it('refuses a variable declared twice, naming it', () => {
    expect(thrownBy(() => checkDraft(smsDraft('{{a}}', ['a', 'b', 'a'])))).toMatchObject({
      code: 'invalid_variable',
      message: 'Variable declared twice: a',
    });
  });

  it('refuses a template without content for any channel', () => {
    // Act
    const errors = [thrownBy(() => checkDraft({ name: 'T', variables: [], content: {} })), thrownBy(() => parseDraft({ name: 'T', variables: [], content: {} }))];

    // Assess
    expect(errors).toMatchObject([
      { name: 'UnprocessableError', code: 'empty_template' },
      { name: 'UnprocessableError', code: 'empty_template' },
    ]);
  });

  it('allows a declared variable no channel uses', () => {
    expect(() => checkDraft(smsDraft('Hi', ['unused']))).not.toThrow();
  });
});
