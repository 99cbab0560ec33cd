// html.js — htm bound to Preact's h: the one tagged template every view renders with.
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);
