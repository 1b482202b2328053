import { useState } from 'react';
import type { FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client';
import { graphql } from './gql';
import { ErrorText, FieldError, fieldMessage } from './errors';
import { useCeremony } from './ceremony';
import { useReauth } from './Reauth';

const TwoFactorDocument = graphql(`
  query TwoFactor {
    me {
      id
      twoFactorEnabled
      recoveryCodesLeft
    }
  }
`);

const BeginDocument = graphql(`
  mutation BeginTwoFactorSetup {
    beginTwoFactorSetup {
      otpauthUri
      qrCode
      expiresAt
    }
  }
`);

const ConfirmDocument = graphql(`
  mutation ConfirmTwoFactorSetup($input: ConfirmTwoFactorSetupInput!) {
    confirmTwoFactorSetup(input: $input) {
      recoveryCodes
      user {
        id
        twoFactorEnabled
        recoveryCodesLeft
      }
    }
  }
`);

const DayStartDocument = graphql(`
  query DayStart {
    me {
      id
      dayStart
    }
  }
`);

const UpdateDayStartDocument = graphql(`
  mutation UpdateDayStart($input: UpdateProfileInput!) {
    updateProfile(input: $input) {
      user {
        id
        dayStart
      }
    }
  }
`);

/** When the user's day begins: habits' "today", streaks and the quote of the day follow it. */
export function DayStart() {
  const { data, error } = useQuery(DayStartDocument);
  const [update, updateState] = useMutation(UpdateDayStartDocument);
  const [saved, setSaved] = useState(false);
  const dayStartMessage = fieldMessage(updateState.error, 'dayStart');

  async function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setSaved(false);
    const dayStart = String(new FormData(event.currentTarget).get('dayStart'));
    const result = await update({ variables: { input: { dayStart } } }).catch(() => null);
    if (result?.data) setSaved(true);
  }

  const dayStart = data?.me?.dayStart;
  return (
    <section>
      <h2>Your day</h2>
      <ErrorText error={error} testId="day-start-load-error" />
      {dayStart !== undefined && (
        // Keyed by the saved value, so the field shows what the server keeps after each save.
        <form key={dayStart} onSubmit={save} data-testid="day-start-form">
          {/* No min or max: Agora decides (00:00 to 12:00), and its message shows by the field. */}
          <label>
            Day starts at
            <input type="time" name="dayStart" required defaultValue={dayStart} data-testid="day-start" />
          </label>
          <button type="submit" disabled={updateState.loading} data-testid="day-start-save">
            Save
          </button>
          <FieldError message={dayStartMessage} testId="day-start-error" />
          {saved && (
            <span className="notice" data-testid="day-start-saved">
              Saved.
            </span>
          )}
        </form>
      )}
      {!dayStartMessage && <ErrorText error={updateState.error} testId="day-start-save-error" />}
    </section>
  );
}

export function Settings() {
  const { data, error } = useQuery(TwoFactorDocument);
  const [begin, beginState] = useMutation(BeginDocument);
  const [confirm, confirmState] = useMutation(ConfirmDocument);
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const setup = beginState.data?.beginTwoFactorSetup;
  const withReauth = useReauth();
  // Its error is the last attempt's: not the refusal that opened "Confirm it's you".
  const starting = useCeremony();

  // No password up front: a session proved recently goes on, others confirm it's them first.
  const start = () =>
    starting.run(async () => {
      await withReauth(() => begin());
    });
  async function finish(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const code = String(new FormData(event.currentTarget).get('code')).trim();
    const result = await confirm({ variables: { input: { code } } }).catch(() => null);
    if (result?.data) setRecoveryCodes(result.data.confirmTwoFactorSetup.recoveryCodes);
  }

  const me = data?.me;
  return (
    <section>
      <h2>Two-factor authentication</h2>
      <ErrorText error={error} testId="settings-error" />
      {me?.twoFactorEnabled && (
        <p className="notice" data-testid="2fa-enabled">
          Two-factor authentication is on ({me.recoveryCodesLeft} recovery codes left).
        </p>
      )}
      {recoveryCodes && (
        <div>
          <p>Keep these recovery codes somewhere safe; each works once, and they are shown only now:</p>
          <ol data-testid="recovery-codes">
            {recoveryCodes.map((code) => (
              <li key={code} data-testid="recovery-code">
                <code>{code}</code>
              </li>
            ))}
          </ol>
        </div>
      )}
      {me && !me.twoFactorEnabled && !setup && (
        <div>
          <button type="button" disabled={starting.busy} onClick={start} data-testid="2fa-begin">
            Set up an authenticator app
          </button>
          <ErrorText error={starting.error} testId="2fa-error" />
        </div>
      )}
      {me && !me.twoFactorEnabled && setup && (
        <div>
          <p>Scan this code with your authenticator app, or enter the key by hand:</p>
          <img src={setup.qrCode} alt="QR code for the authenticator app" width={200} height={200} data-testid="2fa-qr" />
          <p>
            <code data-testid="2fa-uri">{setup.otpauthUri}</code>
          </p>
          <form onSubmit={finish} data-testid="2fa-confirm-form">
            <label>
              Code from the app
              <input name="code" required inputMode="numeric" autoComplete="one-time-code" data-testid="2fa-code" />
            </label>
            <button type="submit" disabled={confirmState.loading} data-testid="2fa-confirm">
              Turn on
            </button>
            <ErrorText error={confirmState.error} testId="2fa-error" />
          </form>
        </div>
      )}
    </section>
  );
}
