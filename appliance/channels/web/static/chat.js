/* Web chat client. No dependencies, no external assets.
 *
 * Security rule: every piece of user or server text is put on the page with
 * textContent (or an attribute), never innerHTML. The CSP forbids inline
 * scripts and styles, so nothing here builds markup from strings.
 *
 * Protocol (docs/WEB.md): send {"type":"hello","session":ID} after connecting,
 * then {"type":"message","text":...}. The server answers "history" (on every
 * hello: the turns so far plus language/quick_replies/slots), "reply", "error".
 */
(function () {
  "use strict";

  // the page's own path: "/" or a tenant's "/t/<tenant>/" (several businesses on one box);
  // the socket, the info call and the stored session all live under it
  var BASE = window.location.pathname.replace(/[^/]*$/, "");
  var STORAGE_KEY = BASE === "/" ? "appliance.chat.session" : "appliance.chat.session:" + BASE;
  var BACKOFF_BASE_MS = 500;
  var BACKOFF_MAX_MS = 15000;

  var UI = {
    en: {
      name: "English", tagline: "Online reception", typing: "The receptionist is typing…",
      placeholder: "Type your message…", label: "Your message", send: "Send",
      hint: "Press Enter to send, Shift+Enter for a new line.", newChat: "New conversation",
      quick: "Suggested replies", you: "You:", bot: "Receptionist:", conversation: "Conversation",
      connecting: "Connecting…", online: "Connected", offline: "Offline",
      retry: "Reconnecting in {s} s…", lost: "Connection lost. Reconnecting…", back: "Connected again.",
      notSent: "Not connected yet: your message is kept, send it again in a moment.",
      summary: "Your booking", confirmed: "Booking confirmed, number {id}", ended: "The conversation has ended.",
      pet_name: "Pet", pet_type: "Animal", start_date: "Arrival", end_date: "Departure",
      owner_name: "Name", owner_phone: "Phone", language: "Language: {l}",
      footer: "Your conversation stays on this business's own device.", skip: "Skip to the message box",
      dog: "dog", cat: "cat"
    },
    et: {
      name: "Eesti", tagline: "Veebivastuvõtt", typing: "Vastuvõtja kirjutab…",
      placeholder: "Kirjutage oma sõnum…", label: "Teie sõnum", send: "Saada",
      hint: "Saatmiseks vajutage Enter, uue rea jaoks Shift+Enter.", newChat: "Uus vestlus",
      quick: "Soovitatud vastused", you: "Teie:", bot: "Vastuvõtja:", conversation: "Vestlus",
      connecting: "Ühendan…", online: "Ühendatud", offline: "Ühendus puudub",
      retry: "Ühendan uuesti {s} s pärast…", lost: "Ühendus katkes. Ühendan uuesti…", back: "Ühendus taastatud.",
      notSent: "Ühendus puudub: sõnum jäi alles, saatke see hetke pärast uuesti.",
      summary: "Teie broneering", confirmed: "Broneering kinnitatud, number {id}", ended: "Vestlus on lõppenud.",
      pet_name: "Lemmikloom", pet_type: "Liik", start_date: "Saabumine", end_date: "Lahkumine",
      owner_name: "Nimi", owner_phone: "Telefon", language: "Keel: {l}",
      footer: "Teie vestlus jääb selle ettevõtte enda seadmesse.", skip: "Liigu sõnumikasti",
      dog: "koer", cat: "kass"
    },
    ru: {
      name: "Русский", tagline: "Онлайн-ресепшн", typing: "Администратор печатает…",
      placeholder: "Введите сообщение…", label: "Ваше сообщение", send: "Отправить",
      hint: "Enter — отправить, Shift+Enter — новая строка.", newChat: "Новый разговор",
      quick: "Варианты ответа", you: "Вы:", bot: "Администратор:", conversation: "Разговор",
      connecting: "Подключение…", online: "Подключено", offline: "Нет связи",
      retry: "Повторное подключение через {s} с…", lost: "Связь потеряна. Подключаемся снова…",
      back: "Связь восстановлена.",
      notSent: "Нет подключения: сообщение сохранено, отправьте его чуть позже.",
      summary: "Ваше бронирование", confirmed: "Бронирование подтверждено, номер {id}",
      ended: "Разговор завершён.",
      pet_name: "Питомец", pet_type: "Вид", start_date: "Заезд", end_date: "Выезд",
      owner_name: "Имя", owner_phone: "Телефон", language: "Язык: {l}",
      footer: "Ваш разговор хранится только на устройстве этой компании.", skip: "Перейти к полю сообщения",
      dog: "собака", cat: "кошка"
    }
  };
  var SLOT_ORDER = ["pet_name", "pet_type", "start_date", "end_date", "owner_name", "owner_phone"];

  var el = {};
  var state = {
    session: null,
    ws: null,
    attempt: 0,
    retryTimer: null,
    countdownTimer: null,
    lang: "en",
    defaultLang: "en",
    waiting: 0,
    everConnected: false,
    helloRetried: false
  };

  // ------------------------------------------------------------ helpers

  function t(key, vars) {
    var table = UI[state.lang] || UI.en;
    var s = table[key] !== undefined ? table[key] : UI.en[key];
    if (vars) {
      Object.keys(vars).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); });
    }
    return s;
  }

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function newSessionId() {
    // crypto.getRandomValues works on plain http:// too (randomUUID needs a secure context).
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function loadSession() {
    try {
      var v = window.localStorage.getItem(STORAGE_KEY);
      if (v && /^[A-Za-z0-9_-]{8,64}$/.test(v)) return v;
    } catch (e) { /* storage disabled: the session lasts as long as the page */ }
    return null;
  }

  function saveSession(id) {
    try { window.localStorage.setItem(STORAGE_KEY, id); } catch (e) { /* see loadSession */ }
  }

  function scrollToEnd() {
    el.log.scrollTop = el.log.scrollHeight;
  }

  function setNotice(text) {
    el.notice.textContent = text || "";
  }

  // ------------------------------------------------------------ language

  function setLanguage(code) {
    if (!code || typeof code !== "string") return;
    code = code.toLowerCase();
    state.lang = code;
    document.documentElement.lang = code;
    var name = (UI[code] && UI[code].name) || code.toUpperCase();
    el.badge.textContent = code.toUpperCase();
    el.badge.setAttribute("aria-label", t("language", { l: name }));
    el.badge.title = t("language", { l: name });
    el.badge.dataset.lang = code;
    applyChrome();
  }

  function applyChrome() {
    el.tagline.textContent = t("tagline");
    el.typingText.textContent = t("typing");
    el.input.placeholder = t("placeholder");
    el.inputLabel.textContent = t("label");
    el.send.textContent = t("send");
    el.hint.textContent = t("hint");
    el.newChat.textContent = t("newChat");
    el.quick.setAttribute("aria-label", t("quick"));
    el.convTitle.textContent = t("conversation");
    el.summaryTitle.textContent = t("summary");
    el.footer.textContent = t("footer");
    el.skip.textContent = t("skip");
    renderConn();
  }

  // ------------------------------------------------------------ rendering

  function addMessage(role, text) {
    var who = role === "user" ? "user" : role === "assistant" ? "bot" : "system";
    var wrap = make("div", "msg msg-" + who);
    var bubble = make("p", "bubble");
    if (who !== "system") {
      bubble.appendChild(make("span", "visually-hidden", (who === "user" ? t("you") : t("bot")) + " "));
    }
    bubble.appendChild(make("span", "text", text));
    wrap.appendChild(bubble);
    el.log.appendChild(wrap);
    scrollToEnd();
    return wrap;
  }

  function addError(text) {
    var node = addMessage("system", text);
    node.classList.add("msg-error");
  }

  function addBookingCard(id) {
    var card = make("div", "booking-card");
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm-1.2 14.6-4.4-4.4 1.4-1.4 3 3 6-6 1.4 1.4z");
    svg.appendChild(path);
    card.appendChild(svg);
    card.appendChild(make("span", "", t("confirmed", { id: id })));
    el.log.appendChild(card);
    el.summaryConfirmed.textContent = t("confirmed", { id: id });
    el.summaryConfirmed.hidden = false;
    scrollToEnd();
  }

  function renderQuickReplies(list) {
    while (el.quick.firstChild) el.quick.removeChild(el.quick.firstChild);
    if (!Array.isArray(list) || list.length === 0) {
      el.quick.hidden = true;
      return;
    }
    list.forEach(function (q) {
      if (!q || typeof q.label !== "string" || typeof q.value !== "string") return;
      var b = make("button", "chip", q.label);
      b.type = "button";
      b.addEventListener("click", function () {
        if (sendText(q.value, q.label)) el.input.focus();
      });
      el.quick.appendChild(b);
    });
    el.quick.hidden = el.quick.childElementCount === 0;
  }

  function formatDate(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso));
    if (!m) return String(iso);
    try {
      var d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
      return new Intl.DateTimeFormat(state.lang, {
        weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC"
      }).format(d);
    } catch (e) {
      return String(iso);
    }
  }

  function renderSlots(slots) {
    while (el.summaryList.firstChild) el.summaryList.removeChild(el.summaryList.firstChild);
    var any = false;
    if (slots && typeof slots === "object") {
      SLOT_ORDER.forEach(function (key) {
        var v = slots[key];
        if (v === null || v === undefined || v === "") return;
        any = true;
        var shown = key === "start_date" || key === "end_date" ? formatDate(v)
          : key === "pet_type" ? t(String(v)) || String(v) : String(v);
        el.summaryList.appendChild(make("dt", "", t(key)));
        el.summaryList.appendChild(make("dd", "", shown));
      });
    }
    el.summary.hidden = !any;
    el.layout.classList.toggle("with-summary", any);
  }

  function applySnapshot(msg) {
    if (msg.language) setLanguage(msg.language);
    renderQuickReplies(msg.quick_replies);
    if ("slots" in msg) renderSlots(msg.slots);
  }

  // ------------------------------------------------------------ waiting

  function startWaiting() {
    state.waiting += 1;
    el.typing.hidden = false;
    el.log.setAttribute("aria-busy", "true");
    scrollToEnd();
  }

  function stopWaiting(all) {
    state.waiting = all ? 0 : Math.max(0, state.waiting - 1);
    if (state.waiting === 0) {
      el.typing.hidden = true;
      el.log.removeAttribute("aria-busy");
    }
  }

  // ------------------------------------------------------------ connection

  function isOpen() {
    return state.ws !== null && state.ws.readyState === WebSocket.OPEN;
  }

  function renderConn(status) {
    if (status) el.conn.dataset.state = status.state;
    var s = el.conn.dataset.state;
    if (s === "online") el.connText.textContent = t("online");
    else if (s === "retry") el.connText.textContent = t("retry", { s: el.conn.dataset.secs || "1" });
    else if (s === "offline") el.connText.textContent = t("offline");
    else el.connText.textContent = t("connecting");
  }

  function setConn(s, secs) {
    el.conn.dataset.state = s;
    if (secs !== undefined) el.conn.dataset.secs = String(secs);
    renderConn();
    el.send.disabled = s !== "online";
  }

  function connect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdownTimer);
    if (state.ws && (state.ws.readyState === WebSocket.OPEN || state.ws.readyState === WebSocket.CONNECTING)) return;
    setConn("connecting");
    var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    var ws;
    try {
      ws = new WebSocket(proto + "//" + window.location.host + BASE + "ws");
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    ws.addEventListener("open", function () {
      ws.send(JSON.stringify({ type: "hello", session: state.session }));
    });
    ws.addEventListener("message", function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg && typeof msg === "object") handle(msg);
    });
    ws.addEventListener("close", function () {
      if (state.ws !== ws) return;
      state.ws = null;
      stopWaiting(true);
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    // Exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to 15 s.
    var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, state.attempt));
    var delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
    state.attempt += 1;
    if (state.everConnected && state.attempt === 1) setNotice(t("lost"));
    var left = Math.ceil(delay / 1000);
    setConn(state.attempt > 6 ? "offline" : "retry", left);
    clearInterval(state.countdownTimer);
    state.countdownTimer = setInterval(function () {
      left = Math.max(1, left - 1);
      if (el.conn.dataset.state === "retry" || el.conn.dataset.state === "offline") {
        el.conn.dataset.secs = String(left);
        renderConn();
      }
    }, 1000);
    state.retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (!isOpen() && !(state.ws && state.ws.readyState === WebSocket.CONNECTING)) {
      state.attempt = 0;
      connect();
    }
  }

  // ------------------------------------------------------------ protocol

  function handle(msg) {
    if (msg.type === "history") {
      if (typeof msg.session === "string" && msg.session !== state.session) {
        state.session = msg.session;
        saveSession(msg.session);
      }
      if (state.everConnected && state.attempt > 0) setNotice(t("back"));
      state.attempt = 0;
      state.everConnected = true;
      state.helloRetried = false;
      setConn("online");
      while (el.log.firstChild) el.log.removeChild(el.log.firstChild);
      el.summaryConfirmed.hidden = true;
      (Array.isArray(msg.turns) ? msg.turns : []).forEach(function (turn) {
        if (turn && typeof turn.text === "string") addMessage(turn.role === "user" ? "user" : "assistant", turn.text);
      });
      applySnapshot(msg);
      stopWaiting(true);
    } else if (msg.type === "reply") {
      stopWaiting(false);
      if (msg.language) setLanguage(msg.language);
      addMessage("assistant", typeof msg.text === "string" ? msg.text : "");
      if (msg.booking_id) addBookingCard(String(msg.booking_id));
      if (msg.end) addMessage("system", t("ended"));
      applySnapshot(msg);
    } else if (msg.type === "error") {
      stopWaiting(false);
      if (msg.code === "bad_session" && !state.helloRetried && isOpen()) {
        state.helloRetried = true;
        state.session = newSessionId();
        saveSession(state.session);
        state.ws.send(JSON.stringify({ type: "hello", session: state.session }));
        return;
      }
      addError(typeof msg.error === "string" ? msg.error : "Error");
    }
  }

  function sendText(value, shown) {
    var text = String(value);
    if (!text.trim()) return false;
    if (!isOpen()) {
      setNotice(t("notSent"));
      reconnectNow();
      return false;
    }
    setNotice("");
    addMessage("user", shown !== undefined ? shown : text);
    renderQuickReplies([]);
    state.ws.send(JSON.stringify({ type: "message", text: text }));
    startWaiting();
    return true;
  }

  function newConversation() {
    state.session = newSessionId();
    saveSession(state.session);
    while (el.log.firstChild) el.log.removeChild(el.log.firstChild);
    renderQuickReplies([]);
    renderSlots({});
    el.summaryConfirmed.hidden = true;
    setLanguage(state.defaultLang);
    setNotice("");
    if (isOpen()) state.ws.send(JSON.stringify({ type: "hello", session: state.session }));
    else reconnectNow();
    el.input.focus();
  }

  // ------------------------------------------------------------ composer

  function autosize() {
    el.input.style.height = "auto";
    el.input.style.height = Math.min(el.input.scrollHeight + 2, 160) + "px";
  }

  function submit(ev) {
    if (ev) ev.preventDefault();
    if (sendText(el.input.value)) {
      el.input.value = "";
      autosize();
    }
    el.input.focus();
  }

  function loadInfo() {
    if (!window.fetch) return;
    window.fetch(BASE + "api/info", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (info) {
        if (!info) return;
        if (typeof info.name === "string" && info.name) {
          el.name.textContent = info.name;
          document.title = info.name;
        }
        if (typeof info.max_message_chars === "number") el.input.maxLength = info.max_message_chars;
        if (typeof info.default_language === "string") {
          state.defaultLang = info.default_language;
          if (el.log.childElementCount === 0) setLanguage(info.default_language);
        }
      })
      .catch(function () { /* the page works without it */ });
  }

  function init() {
    el = {
      log: document.getElementById("log"),
      quick: document.getElementById("quick"),
      typing: document.getElementById("typing"),
      typingText: document.getElementById("typing-text"),
      form: document.getElementById("composer"),
      input: document.getElementById("message"),
      inputLabel: document.getElementById("message-label"),
      hint: document.getElementById("composer-hint"),
      send: document.getElementById("send"),
      badge: document.getElementById("lang-badge"),
      conn: document.getElementById("conn"),
      connText: document.getElementById("conn-text"),
      newChat: document.getElementById("new-chat"),
      notice: document.getElementById("notice"),
      name: document.getElementById("business-name"),
      tagline: document.getElementById("tagline"),
      convTitle: document.getElementById("conversation-title"),
      summary: document.getElementById("summary"),
      summaryTitle: document.getElementById("summary-title"),
      summaryList: document.getElementById("summary-list"),
      summaryConfirmed: document.getElementById("summary-confirmed"),
      layout: document.querySelector(".layout"),
      footer: document.getElementById("footer-text"),
      skip: document.querySelector(".skip-link")
    };
    state.session = loadSession();
    if (!state.session) {
      state.session = newSessionId();
      saveSession(state.session);
    }
    el.form.addEventListener("submit", submit);
    el.input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) submit(ev);
    });
    el.input.addEventListener("input", autosize);
    el.newChat.addEventListener("click", newConversation);
    window.addEventListener("online", reconnectNow);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") reconnectNow();
    });
    setLanguage(document.documentElement.lang || "en");
    setConn("connecting");
    loadInfo();
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
