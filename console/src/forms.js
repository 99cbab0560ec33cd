// forms.js — what every form shares: labelled inputs that show their own error,
// the form's banner and success notice, mapping an API error's `field` to the
// input named for it (or the nearest one, else the banner), a debounced value,
// and the two-step confirm button.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";

let fieldSeq = 0;

function useFieldId() {
  const r = useRef(null);
  if (!r.current) r.current = `fld${++fieldSeq}`;
  return r.current;
}

/**
 * The element an API field path names inside `root`: the input whose `name`
 * or `data-field` is the path (`components[1].text` is read as
 * `components.1.text`), else the nearest parent path that has one. `alias`
 * maps a path to a form's own input name first (or returns nothing).
 */
export function findField(root, field, alias) {
  const parts = String(field)
    .replace(/\[([^\]]*)\]/g, ".$1")
    .split(".")
    .filter(Boolean);
  for (let n = parts.length; n > 0; n--) {
    const path = parts.slice(0, n).join(".");
    const names = [path];
    const a = alias && alias(path);
    if (a) names.unshift(a);
    for (const name of names) {
      const q = CSS.escape(name);
      const el = root.querySelector(`[name="${q}"],[data-field="${q}"]`);
      if (el) return el;
    }
  }
  return null;
}

/**
 * A form's state: field errors by input name, a banner, a success notice and
 * busy. `run(fn, alias)` clears them, awaits fn, and shows its error (next to
 * the field it names, else in the banner); it answers true when fn succeeded.
 * Put `ref={form.ref}` on the element holding the inputs.
 */
export function useForm() {
  const ref = useRef(null);
  const [errors, setErrors] = useState({});
  const [banner, setBanner] = useState(null);
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(false);
  const form = {
    ref,
    errors,
    banner,
    notice,
    busy,
    setNotice,
    setBanner,
    clearField(...names) {
      if (names.some((n) => n && errors[n]))
        setErrors((e) => {
          const next = { ...e };
          names.forEach((n) => delete next[n]);
          return next;
        });
    },
    reset() {
      setErrors({});
      setBanner(null);
      setNotice(null);
    },
    /** Errors found before sending: {inputName: message}. */
    invalid(fieldErrors) {
      setErrors(fieldErrors);
      const first = Object.keys(fieldErrors)[0];
      const el = first && ref.current && findField(ref.current, first);
      if (el && el.focus) el.focus();
    },
    fail(err, alias) {
      if (err && err.name === "AbortError") return;
      const message = (err && err.message) || String(err);
      const el = err && err.field && ref.current ? findField(ref.current, err.field, alias) : null;
      if (el) {
        setErrors({ [el.getAttribute("name") || el.getAttribute("data-field")]: message });
        if (el.focus) el.focus();
      } else setBanner(message);
    },
    async run(fn, alias) {
      setBusy(true);
      setErrors({});
      setBanner(null);
      setNotice(null);
      try {
        await fn();
        return true;
      } catch (e) {
        form.fail(e, alias);
        return false;
      } finally {
        setBusy(false);
      }
    },
  };
  return form;
}

const errorOf = (form, name, field) => (form ? form.errors[name] || (field && form.errors[field]) || null : null);

function length(v) {
  return [...String(v ?? "")].length;
}

function Shell({ id, label, labelHidden, err, errKey, hint, limit, value, errorTestid, cls, children }) {
  const n = limit ? length(value) : 0;
  return html`<div class=${`field ${cls || ""}`}>
    <label for=${id} class=${labelHidden ? "sr-only" : undefined}>${label}</label>
    ${children}
    ${(hint || limit) &&
    html`<div class="field-foot">
      ${hint && html`<small class="hint">${hint}</small>`}
      ${limit && html`<span class=${`counter${n > limit ? " over" : ""}`} data-testid="counter">${n}/${limit}</span>`}
    </div>`}
    ${err &&
    html`<div class="field-error" id=${`${id}-err`} role="alert" data-testid=${errorTestid || "field-error"} data-field-error=${errKey}>${err}</div>`}
  </div>`;
}

function control(Tag) {
  return function Control({ form, label, labelHidden, name, field, hint, limit, errorTestid, class: cls, onInput, inputRef, children, ...rest }) {
    const id = useFieldId();
    const err = errorOf(form, name, field);
    return html`<${Shell} id=${id} label=${label} labelHidden=${labelHidden} err=${err} errKey=${name || field} hint=${hint} limit=${limit}
        value=${rest.value} errorTestid=${errorTestid} cls=${cls}>
      <${Tag}
        id=${id}
        ref=${inputRef}
        name=${name}
        data-field=${field}
        aria-invalid=${err ? "true" : undefined}
        aria-describedby=${err ? `${id}-err` : undefined}
        onInput=${(e) => {
          if (form) form.clearField(name, field);
          if (onInput) onInput(e);
        }}
        ...${rest}
      >${children}<//>
    <//>`;
  };
}

/** A labelled <input>; `limit` adds a character counter (it never blocks typing); `inputRef` reaches the element. */
export const Input = control("input");
/** A labelled <textarea>. */
export const TextArea = control("textarea");

/** A labelled <select>; `options` are [value, label] pairs or plain values. */
export function Select({ form, label, labelHidden, name, field, hint, errorTestid, class: cls, options, onChange, ...rest }) {
  const id = useFieldId();
  const err = errorOf(form, name, field);
  return html`<${Shell} id=${id} label=${label} labelHidden=${labelHidden} err=${err} errKey=${name || field} hint=${hint} errorTestid=${errorTestid} cls=${cls}>
    <select
      id=${id}
      name=${name}
      data-field=${field}
      aria-invalid=${err ? "true" : undefined}
      aria-describedby=${err ? `${id}-err` : undefined}
      onChange=${(e) => {
        if (form) form.clearField(name, field);
        if (onChange) onChange(e);
      }}
      ...${rest}
    >
      ${options.map((o) => {
        const [v, l] = Array.isArray(o) ? o : [o, o];
        return html`<option value=${v} key=${v}>${l}</option>`;
      })}
    </select>
  <//>`;
}

/** A labelled checkbox. */
export function Checkbox({ form, label, name, field, hint, class: cls, onChange, ...rest }) {
  const id = useFieldId();
  const err = errorOf(form, name, field);
  return html`<div class=${`field check ${cls || ""}`}>
    <input
      type="checkbox"
      id=${id}
      name=${name}
      data-field=${field}
      aria-invalid=${err ? "true" : undefined}
      onChange=${(e) => {
        if (form) form.clearField(name, field);
        if (onChange) onChange(e);
      }}
      ...${rest}
    />
    <label for=${id}>${label}</label>
    ${hint && html`<small class="hint">${hint}</small>`}
    ${err && html`<div class="field-error" role="alert" data-testid="field-error" data-field-error=${name || field}>${err}</div>`}
  </div>`;
}

/** The form's banner (an error not tied to one input) and its success notice. */
export function FormMessages({ form }) {
  return html`${form.banner && html`<div class="banner error" role="alert" data-testid="form-error">${form.banner}</div>`}
  ${form.notice && html`<div class="banner ok" role="status" data-testid="notice">${form.notice}</div>`}`;
}

/** A button that asks before it acts: label → question + confirm + Cancel. */
export function ConfirmButton({ label, question, confirmLabel = "Confirm", onConfirm, testid, confirmTestid, class: cls, disabled }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!asking)
    return html`<button type="button" class=${`btn ${cls || ""}`} data-testid=${testid} disabled=${disabled} onClick=${() => setAsking(true)}>
      ${label}
    </button>`;
  return html`<span class="confirm" role="group" aria-label=${question}>
    <span class="confirm-q">${question}</span>
    <button
      type="button"
      class="btn danger"
      data-testid=${confirmTestid}
      disabled=${busy}
      onClick=${async () => {
        setBusy(true);
        try {
          await onConfirm();
        } finally {
          setBusy(false);
          setAsking(false);
        }
      }}
    >
      ${confirmLabel}
    </button>
    <button type="button" class="btn" onClick=${() => setAsking(false)}>Cancel</button>
  </span>`;
}

/** `value`, once it has stopped changing for `ms`. */
export function useDebounced(value, ms) {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/** The error of a group of inputs (a fieldset with `data-field={k}`), when there is one. */
export function GroupError({ form, k }) {
  const err = form.errors[k];
  return err ? html`<div class="field-error" role="alert" data-testid="field-error" data-field-error=${k}>${err}</div>` : null;
}
