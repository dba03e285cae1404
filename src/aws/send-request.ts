import type { SendEmailCommandInput } from '@aws-sdk/client-sesv2';
import { formatMailbox } from '../modules/messages/address.js';
import type { Draft } from '../modules/messages/input.js';

/** The header that lets later SES events find their message (SES keeps custom headers). */
export const MESSAGE_ID_HEADER = 'X-Sesame-Message-Id';

/** Build the SESv2 SendEmail request for a stored draft. */
export function buildSendRequest(messageId: string, d: Draft, configurationSet: string | null): SendEmailCommandInput {
  const common = {
    ...(configurationSet ? { ConfigurationSetName: configurationSet } : {}),
    EmailTags: [
      { Name: 'sesame_message_id', Value: messageId.replace(/[^\w-]/g, '_') },
      ...Object.entries(d.tags).map(([Name, Value]) => ({ Name, Value })),
    ],
  };
  if (d.rawBase64) {
    // SMTP: the message as received, with our header in front; SES reads recipients from Destination.
    const raw = Buffer.concat([
      Buffer.from(`${MESSAGE_ID_HEADER}: ${messageId}\r\n`),
      Buffer.from(d.rawBase64, 'base64'),
    ]);
    return {
      ...common,
      FromEmailAddress: formatMailbox(d.from),
      Destination: { ToAddresses: [...d.to, ...d.cc, ...d.bcc].map((m) => m.address) },
      Content: { Raw: { Data: raw } },
    };
  }
  return {
    ...common,
    FromEmailAddress: formatMailbox(d.from),
    Destination: {
      ...(d.to.length ? { ToAddresses: d.to.map(formatMailbox) } : {}),
      ...(d.cc.length ? { CcAddresses: d.cc.map(formatMailbox) } : {}),
      ...(d.bcc.length ? { BccAddresses: d.bcc.map(formatMailbox) } : {}),
    },
    ...(d.replyTo.length ? { ReplyToAddresses: d.replyTo.map(formatMailbox) } : {}),
    Content: {
      Simple: {
        Subject: { Data: d.subject, Charset: 'UTF-8' },
        Body: {
          ...(d.text !== undefined ? { Text: { Data: d.text, Charset: 'UTF-8' } } : {}),
          ...(d.html !== undefined ? { Html: { Data: d.html, Charset: 'UTF-8' } } : {}),
        },
        Headers: [
          { Name: MESSAGE_ID_HEADER, Value: messageId },
          ...d.headers.map((h) => ({ Name: h.name, Value: h.value })),
        ],
        ...(d.attachments.length
          ? {
              Attachments: d.attachments.map((a) => ({
                FileName: a.filename,
                ContentType: a.contentType,
                RawContent: Buffer.from(a.contentBase64, 'base64'),
                ContentDisposition: a.contentId ? ('INLINE' as const) : ('ATTACHMENT' as const),
                ...(a.contentId ? { ContentId: a.contentId } : {}),
              })),
            }
          : {}),
      },
    },
  };
}
