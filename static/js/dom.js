"use strict";

// A new element with its attributes and text: shared by the session page's scripts, loaded before them.
function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  Object.entries(attributes).forEach(([key, value]) => node.setAttribute(key, value));
  node.textContent = text;
  return node;
}
