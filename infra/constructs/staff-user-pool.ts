import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  AccountRecovery,
  FeaturePlan,
  Mfa,
  StandardThreatProtectionMode,
  UserPool,
  type UserPoolClient,
} from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { staffRoles } from '#shared/auth/staff-auth.ts';

/**
 * Staff identities. Cognito groups are the contract's roles (`cognito:groups` in the token), created from
 * the same list the handlers check. Staff read customer messages, so sign-in is hardened: admin-created
 * accounts only, long passwords, TOTP MFA required, Plus tier threat protection enforced (blocks
 * compromised credentials and risky sign-ins).
 *
 * Staff clients send the ID token (it carries `aud` = client id and `cognito:groups`); both the API
 * Gateway JWT authorizer and the handlers check it.
 *
 * @example
 * ```ts
 * const staff = new StaffUserPool(this, 'Staff');
 * staff.issuerUrl; // https://cognito-idp.<region>.amazonaws.com/<poolId>
 * ```
 */
export class StaffUserPool extends Construct {
  readonly userPool: UserPool;
  readonly client: UserPoolClient;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.userPool = new UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      passwordPolicy: {
        minLength: 14,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      // TOTP only: SMS MFA is phishable/SIM-swappable and needs an SNS role and spend limits.
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    for (const role of staffRoles) {
      this.userPool.addGroup(`Group-${role}`, { groupName: role, description: `Staff role ${role}` });
    }

    this.client = this.userPool.addClient('StaffClient', {
      // A public client (browser/desktop app) signing in with SRP; no hosted UI is configured yet, so
      // OAuth flows stay off rather than defaulting to a placeholder callback URL.
      generateSecret: false,
      authFlows: { userSrp: true },
      disableOAuth: true,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.hours(12),
    });
  }

  /** The token issuer: `https://cognito-idp.<region>.amazonaws.com/<poolId>`. */
  get issuerUrl(): string {
    return this.userPool.userPoolProviderUrl;
  }

  /** Where Cognito publishes the pool's signing keys. */
  get jwksUrl(): string {
    return `${this.issuerUrl}/.well-known/jwks.json`;
  }
}
