/** Test helpers for the local stack; import from `#test/helpers/index.ts`. */
export { staffToken } from './auth.ts';
export { postChat, signChat } from './chat.ts';
export { countItems, dynamo, keysDiff, tableKeys, watchingDynamo } from './dynamo.ts';
export { basicAuth, signSendgridEvent } from './sendgrid.ts';
export { applyStackEnv, baseUrl, stackEnv } from './stack.ts';
export { withStackModules } from './stack-modules.ts';
export { formParams, postTwilioBody, postTwilioForm, signTwilio } from './twilio.ts';
export { waitFor } from './wait.ts';
