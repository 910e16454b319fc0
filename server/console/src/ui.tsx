// Small shared pieces: labelled fields with their errors, status messages, dates, JSON, the in-app link.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { navigate } from './router.ts';

type FieldProps = {
  id: string;
  label: string;
  /** The API's messages for this field (`fieldErrors[name]`). */
  errors?: string[] | undefined;
  hint?: string;
  children: (described: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ComponentChildren;
};

/** A label, the control, and the field's errors tied to it (aria-describedby), so they are read with it. */
export function Field({ id, label, errors, hint, children }: FieldProps) {
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [hint ? hintId : null, errors?.length ? errorId : null].filter(Boolean).join(' ');
  return (
    <div class={errors?.length ? 'field invalid' : 'field'}>
      <label for={id}>{label}</label>
      {children({ id, 'aria-invalid': Boolean(errors?.length), ...(describedBy ? { 'aria-describedby': describedBy } : {}) })}
      {hint ? (
        <p class="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
      {errors?.length ? (
        <p class="field-error" id={errorId}>
          {errors.join('; ')}
        </p>
      ) : null}
    </div>
  );
}

/** A filter's labelled select: "Any" (the empty value) and then each option, as value and label. */
export function FilterSelect({ id, label, name, options }: { id: string; label: string; name: string; options: readonly (readonly [value: string, label: string])[] }) {
  return (
    <Field id={id} label={label}>
      {(props) => (
        <select {...props} name={name}>
          <option value="">Any</option>
          {options.map(([value, text]) => (
            <option key={value} value={value}>
              {text}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** An error for the whole form or page, announced when it appears. */
export function Alert({ message }: { message: string | null }) {
  return message ? (
    <p class="alert" role="alert">
      {message}
    </p>
  ) : null;
}

/** A polite status line (results loaded, saved, live or not). */
export function Status({ children }: { children: ComponentChildren }) {
  return (
    <p class="status" role="status">
      {children}
    </p>
  );
}

/** A link inside the console: a real link (open in a new tab works), followed without reloading. */
export function Link({ href, children, current }: { href: string; children: ComponentChildren; current?: boolean }) {
  const follow = (event: MouseEvent) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={follow} aria-current={current ? 'page' : undefined}>
      {children}
    </a>
  );
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
export const formatDate = (date: Date | null | undefined): string => (date ? dateFormat.format(date) : '—');

/** JSON for people, in a region a keyboard can scroll. */
export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" tabIndex={0} aria-label={label}>
      {value === undefined ? '—' : JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** A table in a region a keyboard can scroll when it is wider than the screen. */
export function TableRegion({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-region" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}

/** A form field's text ('' when absent: files never appear in the console's forms). */
export function textOf(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === 'string' ? value : '';
}

/** Paging by `nextCursor`: the cursor of the page shown, and the ones before it, which "Previous page" goes back through. */
export type CursorPages = { cursor: string | undefined; number: number; previous: () => void; next: (cursor: string) => void; reset: () => void };

export function useCursorPages(): CursorPages {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  return {
    cursor: cursors.at(-1),
    number: cursors.length,
    previous: () => setCursors((list) => (list.length > 1 ? list.slice(0, -1) : list)),
    next: (cursor) => setCursors((list) => [...list, cursor]),
    reset: () => setCursors([undefined]),
  };
}

/** "Previous page", the page's number and "Next page" (offered while the list has a `nextCursor`). */
export function Pager({ label, pages, nextCursor }: { label: string; pages: CursorPages; nextCursor: string | null }) {
  return (
    <nav class="pager" aria-label={label}>
      <button type="button" class="secondary" disabled={pages.number === 1} onClick={pages.previous}>
        Previous page
      </button>
      <span>Page {pages.number}</span>
      <button type="button" class="secondary" disabled={!nextCursor} onClick={() => nextCursor && pages.next(nextCursor)}>
        Next page
      </button>
    </nav>
  );
}
