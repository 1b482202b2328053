import { useState } from 'react';
import type { ChangeEvent } from 'react';
import { useLazyQuery, useMutation } from '@apollo/client';
import { graphql } from './gql';
import type { HabitExportFormat, ImportHabitsMutation } from './gql/graphql';
import { ErrorText, FieldError, fieldMessage } from './errors';

const ExportDocument = graphql(`
  query ExportHabits($format: HabitExportFormat!) {
    exportHabits(format: $format) {
      filename
      contentType
      base64
    }
  }
`);

const ImportDocument = graphql(`
  mutation ImportHabits($input: ImportHabitsInput!) {
    importHabits(input: $input) {
      habitsCreated
      habitsMatched
      daysAdded
      daysUnchanged
      rowsIgnored
      refused {
        file
        line
        reason
        message
      }
    }
  }
`);

/** Saves the server's file the way a link to it would, under the name the server gave it. */
function download({ filename, contentType, base64 }: { filename: string; contentType: string; base64: string }) {
  const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type: contentType }));
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.click();
  // Not at once: a browser may start the download, and read the URL, after this task.
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A file's bytes in standard base64, through a data URL (a string built byte by byte would be slow on a 1 MiB zip). */
function readBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result);
      resolve(url.slice(url.indexOf(',') + 1));
    };
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

type Counts = Omit<ImportHabitsMutation['importHabits'], '__typename' | 'refused'>;

const COUNTS: [keyof Counts, string][] = [
  ['habitsCreated', 'Habits created'],
  ['habitsMatched', 'Habits matched'],
  ['daysAdded', 'Days added'],
  ['daysUnchanged', 'Days unchanged'],
  ['rowsIgnored', 'Rows ignored'],
];

/** The user's habits out as a file (Loop Habit Tracker's CSV zip, or Agora's JSON) and in from Loop's. */
export function HabitFiles() {
  // The file is not kept in the cache: it is big, and stale as soon as a day is marked.
  const [exportHabits, exportState] = useLazyQuery(ExportDocument, { fetchPolicy: 'no-cache' });
  // A habit created or a day added changes the lists the page shows: ask for them again.
  const [importHabits, importState] = useMutation(ImportDocument, { refetchQueries: ['Today'], awaitRefetchQueries: true });
  const [imported, setImported] = useState<string | null>(null);
  const dataMessage = fieldMessage(importState.error, 'data');

  async function save(format: HabitExportFormat) {
    const { data } = await exportHabits({ variables: { format } });
    if (data) download(data.exportHabits);
  }

  async function chooseFile(event: ChangeEvent<HTMLInputElement>) {
    const input = event.currentTarget;
    const file = input.files?.[0];
    // Emptied, so that choosing the same file again is a change too.
    input.value = '';
    if (!file) return;
    setImported(file.name);
    const data = await readBase64(file);
    await importHabits({ variables: { input: { format: 'LOOP_CSV', data } } }).catch(() => null);
  }

  const report = importState.data?.importHabits;
  return (
    <section>
      <h2>Habits in and out</h2>
      <button type="button" disabled={exportState.loading} onClick={() => save('LOOP_CSV')} data-testid="export-loop">
        Export (Loop CSV)
      </button>{' '}
      <button type="button" disabled={exportState.loading} onClick={() => save('JSON')} data-testid="export-json">
        Export (JSON)
      </button>
      <ErrorText error={exportState.error} testId="export-error" />
      <p>
        <label>
          Import from Loop (its “Export as CSV” zip)
          <input
            type="file"
            accept=".zip,application/zip"
            disabled={importState.loading}
            onChange={chooseFile}
            aria-invalid={dataMessage ? true : undefined}
            data-testid="import-file"
          />
          <FieldError message={dataMessage} testId="import-file-error" />
        </label>
      </p>
      {!dataMessage && <ErrorText error={importState.error} testId="import-error" />}
      {importState.loading && <p className="muted">Importing {imported}…</p>}
      {report && (
        <div data-testid="import-report">
          <p className="notice">Imported {imported}.</p>
          <table>
            <tbody>
              {COUNTS.map(([key, label]) => (
                <tr key={key}>
                  <th>{label}</th>
                  <td data-testid={`import-${key}`}>{report[key]}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {report.refused.length === 0 ? (
            <p className="muted" data-testid="import-nothing-refused">
              No rows refused.
            </p>
          ) : (
            <table>
              <caption>Rows left out</caption>
              <thead>
                <tr>
                  <th>File</th>
                  <th>Line</th>
                  <th>Reason</th>
                  <th>Why</th>
                </tr>
              </thead>
              <tbody>
                {report.refused.map((row) => (
                  <tr key={`${row.file}:${row.line}:${row.reason}`} data-testid="import-refused">
                    <td>{row.file}</td>
                    <td>{row.line}</td>
                    <td>{row.reason}</td>
                    <td>{row.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}
