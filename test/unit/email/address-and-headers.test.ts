import { describe, expect, it } from 'vitest';
import { parseAddressList } from '#shared/channels/email/address.ts';
import { threadingHeaders } from '#shared/channels/email/headers.ts';

describe('parseAddressList', () => {
  it('reads a list with quoted commas, groups and members that hold no address', () => {
    // Act
    const list = parseAddressList('"Doe, Jane" <Jane@Example.com>, Team: bob@example.org, "Ann" <ann@example.net>;, not-an-address, undisclosed-recipients:;');

    // Assess
    expect(list).toEqual([
      { address: 'jane@example.com', displayName: 'Doe, Jane' },
      { address: 'bob@example.org' },
      { address: 'ann@example.net', displayName: 'Ann' },
    ]);
  });

  it('keeps a quoted local part and refuses an address longer than SMTP allows', () => {
    // Act
    const quoted = parseAddressList('<"john smith"@example.com>');
    const tooLong = parseAddressList(`${'a'.repeat(250)}@example.com`);

    // Assess
    expect(quoted).toEqual([{ address: '"john smith"@example.com' }]);
    expect(tooLong).toEqual([]);
  });
});

describe('threadingHeaders', () => {
  it('takes the first of repeated headers, ignores non-header lines and reads ids written without brackets', () => {
    // Prepare
    const raw = 'garbage line without colon\nMessage-Id: <first@x>\nMessage-ID: <second@x>\nIn-Reply-To: bare-id@x (old mailer)\nReferences: \n';

    // Act
    const headers = threadingHeaders(raw);

    // Assess
    expect(headers).toEqual({ messageId: '<first@x>', inReplyTo: 'bare-id@x', references: [], date: undefined });
  });
});
