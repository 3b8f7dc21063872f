/**
 * The words on an error page, per language. Plain text only: every string is escaped where it
 * is rendered, so a translation can never inject markup.
 */
import { checkKeys, checkObject, fail } from '../validate.js';

/** The words for one status. */
export interface StatusMessages {
  /** Short, standard title, e.g. "Service unavailable" (also the problem+json `title`). */
  title: string;
  /** Plain-words explanation for a visitor (also the problem+json `detail`). */
  detail: string;
  /** The friendly page heading, e.g. "We are a little overwhelmed". */
  headline: string;
}

export type StatusKey = '502' | '503' | '504' | '429' | '500';

/** The words of a planned-maintenance page (a 503 the operator switched on). */
export interface MaintenanceMessages {
  /** Short title, e.g. "Down for maintenance" (eyebrow and text answer). */
  title: string;
  /** The friendly page heading. */
  headline: string;
  /** Plain-words explanation (also the problem+json `detail`). */
  detail: string;
  /** The announced end, `{time}` is the date and time (localized on the page). */
  until: string;
  /** Shown instead of `until` once that time has passed and the site is still down. */
  overrun: string;
}

export interface Messages {
  /** BCP 47 language tag, e.g. 'en'. */
  lang: string;
  statuses: Record<StatusKey, StatusMessages>;
  /** Label for the request id. */
  reference: string;
  /** Why the reference is shown. */
  referenceHint: string;
  /** Label for the time of the error. */
  time: string;
  /** Label for the status code. */
  status: string;
  /** Reassurance that the visitor did nothing wrong. */
  notYourFault: string;
  /** Heading above the advice and links. */
  whatNow: string;
  /** When to try again, `{seconds}` >= 2. */
  retryIn: string;
  /** When to try again for long waits, `{minutes}` >= 2. */
  retryInMinutes: string;
  /** Retry-After is 0 or 1. */
  retryNow: string;
  /** No Retry-After known. */
  retryLater: string;
  /** Shown when the page refreshes itself (meta refresh). */
  autoRefresh: string;
  /** Label before the countdown to the automatic reload. */
  reloadingIn: string;
  /** Button that stops the automatic reload (WCAG 2.2.1: a time limit the user can turn off). */
  stopReload: string;
  /** Label before the non-idempotent warning, so it is not carried by colour alone. */
  warning: string;
  /** A request that is not safe to repeat (a POST without Idempotency-Key): the payment case. */
  mayHaveGoneThrough: string;
  /** Link text: reload the page. */
  reload: string;
  /** Link text: the brand's status page. */
  statusPage: string;
  /** Link text: the brand's support contact. */
  support: string;
  /** Link text: the brand's home page. */
  home: string;
  /** Used when the brand has no name. */
  defaultBrandName: string;
  /** Heading of the upstream details shown only with `expose: true`. */
  technicalDetails: string;
  /** Planned maintenance (`gateway.maintenance.start()`). */
  maintenance: MaintenanceMessages;
}

const en: Messages = {
  lang: 'en',
  statuses: {
    '502': {
      title: 'Bad gateway',
      detail: 'A server behind this site sent back an answer we could not use.',
      headline: 'Something went wrong on our side',
    },
    '503': {
      title: 'Service unavailable',
      detail: 'The service is overloaded or down for maintenance right now.',
      headline: 'We are a little overwhelmed',
    },
    '504': {
      title: 'Gateway timeout',
      detail: 'A server behind this site did not answer in time.',
      headline: 'That took too long',
    },
    '429': {
      title: 'Too many requests',
      detail: 'We received more requests from you than we can handle right now.',
      headline: 'Please slow down a little',
    },
    '500': {
      title: 'Internal server error',
      detail: 'Something went wrong on our side while handling your request.',
      headline: 'Something broke on our side',
    },
  },
  reference: 'Reference',
  referenceHint: 'If you contact support, please mention this reference.',
  time: 'Time',
  status: 'Error code',
  notYourFault: 'This is not your fault: nothing is wrong with your device or your connection.',
  whatNow: 'What you can do',
  retryIn: 'Try again in {seconds} seconds.',
  retryInMinutes: 'Try again in about {minutes} minutes.',
  retryNow: 'You can try again now.',
  retryLater: 'Wait a moment, then try again.',
  autoRefresh: 'This page will reload by itself.',
  reloadingIn: 'Reloading in',
  stopReload: 'Don’t reload',
  warning: 'Important:',
  mayHaveGoneThrough:
    'Your request may already have gone through. Before you send it again, check whether it worked (for example, look for a confirmation or in your order history), so that nothing happens twice.',
  reload: 'Try again',
  statusPage: 'Service status',
  support: 'Contact support',
  home: 'Go to the home page',
  defaultBrandName: 'This site',
  technicalDetails: 'Technical details',
  maintenance: {
    title: 'Down for maintenance',
    headline: 'We are doing some planned maintenance',
    detail: 'The site is down for planned work and will be back soon.',
    until: 'We expect to be back by {time}.',
    overrun: 'It is taking longer than planned. We will be back as soon as we can.',
  },
};

const es: Messages = {
  lang: 'es',
  statuses: {
    '502': {
      title: 'Puerta de enlace incorrecta',
      detail: 'Un servidor detrás de este sitio nos ha devuelto una respuesta que no podemos usar.',
      headline: 'Algo ha fallado por nuestra parte',
    },
    '503': {
      title: 'Servicio no disponible',
      detail: 'El servicio está sobrecargado o en mantenimiento en este momento.',
      headline: 'Estamos un poco desbordados',
    },
    '504': {
      title: 'Tiempo de espera agotado',
      detail: 'Un servidor detrás de este sitio no ha respondido a tiempo.',
      headline: 'Esto ha tardado demasiado',
    },
    '429': {
      title: 'Demasiadas solicitudes',
      detail: 'Hemos recibido más solicitudes tuyas de las que podemos atender ahora mismo.',
      headline: 'Ve un poco más despacio',
    },
    '500': {
      title: 'Error interno del servidor',
      detail: 'Algo ha fallado por nuestra parte al atender tu solicitud.',
      headline: 'Algo se ha roto por nuestra parte',
    },
  },
  reference: 'Referencia',
  referenceHint: 'Si contactas con soporte, indica esta referencia.',
  time: 'Hora',
  status: 'Código de error',
  notYourFault: 'No es culpa tuya: tu dispositivo y tu conexión funcionan bien.',
  whatNow: 'Qué puedes hacer',
  retryIn: 'Vuelve a intentarlo dentro de {seconds} segundos.',
  retryInMinutes: 'Vuelve a intentarlo dentro de unos {minutes} minutos.',
  retryNow: 'Ya puedes volver a intentarlo.',
  retryLater: 'Espera un momento y vuelve a intentarlo.',
  autoRefresh: 'Esta página se recargará sola.',
  reloadingIn: 'Recargando en',
  stopReload: 'No recargar',
  warning: 'Importante:',
  mayHaveGoneThrough:
    'Es posible que tu solicitud ya se haya procesado. Antes de enviarla de nuevo, comprueba si ha funcionado (por ejemplo, busca una confirmación o revisa tu historial de pedidos) para que nada se haga dos veces.',
  reload: 'Reintentar',
  statusPage: 'Estado del servicio',
  support: 'Contactar con soporte',
  home: 'Ir a la página de inicio',
  defaultBrandName: 'Este sitio',
  technicalDetails: 'Detalles técnicos',
  maintenance: {
    title: 'En mantenimiento',
    headline: 'Estamos haciendo un mantenimiento programado',
    detail: 'El sitio está parado por unos trabajos programados y volverá pronto.',
    until: 'Esperamos volver hacia el {time}.',
    overrun: 'Está tardando más de lo previsto. Volveremos lo antes posible.',
  },
};

const de: Messages = {
  lang: 'de',
  statuses: {
    '502': {
      title: 'Fehlerhaftes Gateway',
      detail: 'Ein Server hinter dieser Website hat uns eine Antwort geschickt, mit der wir nichts anfangen können.',
      headline: 'Bei uns ist etwas schiefgelaufen',
    },
    '503': {
      title: 'Dienst nicht verfügbar',
      detail: 'Der Dienst ist gerade überlastet oder wird gewartet.',
      headline: 'Gerade ist hier zu viel los',
    },
    '504': {
      title: 'Gateway-Zeitüberschreitung',
      detail: 'Ein Server hinter dieser Website hat nicht rechtzeitig geantwortet.',
      headline: 'Das hat zu lange gedauert',
    },
    '429': {
      title: 'Zu viele Anfragen',
      detail: 'Wir haben gerade mehr Anfragen von Ihnen erhalten, als wir bearbeiten können.',
      headline: 'Bitte etwas langsamer',
    },
    '500': {
      title: 'Interner Serverfehler',
      detail: 'Bei der Bearbeitung Ihrer Anfrage ist bei uns etwas schiefgegangen.',
      headline: 'Bei uns ist etwas kaputtgegangen',
    },
  },
  reference: 'Referenz',
  referenceHint: 'Bitte nennen Sie diese Referenz, wenn Sie den Support kontaktieren.',
  time: 'Zeit',
  status: 'Fehlercode',
  notYourFault: 'Das liegt nicht an Ihnen: Mit Ihrem Gerät und Ihrer Verbindung ist alles in Ordnung.',
  whatNow: 'Was Sie tun können',
  retryIn: 'Versuchen Sie es in {seconds} Sekunden noch einmal.',
  retryInMinutes: 'Versuchen Sie es in etwa {minutes} Minuten noch einmal.',
  retryNow: 'Sie können es jetzt noch einmal versuchen.',
  retryLater: 'Warten Sie einen Moment und versuchen Sie es dann noch einmal.',
  autoRefresh: 'Diese Seite lädt sich von selbst neu.',
  reloadingIn: 'Neu laden in',
  stopReload: 'Nicht neu laden',
  warning: 'Wichtig:',
  mayHaveGoneThrough:
    'Ihre Anfrage ist möglicherweise schon angekommen. Prüfen Sie, bevor Sie sie erneut senden, ob sie geklappt hat (zum Beispiel anhand einer Bestätigung oder Ihrer Bestellübersicht), damit nichts doppelt passiert.',
  reload: 'Erneut versuchen',
  statusPage: 'Dienststatus',
  support: 'Support kontaktieren',
  home: 'Zur Startseite',
  defaultBrandName: 'Diese Website',
  technicalDetails: 'Technische Details',
  maintenance: {
    title: 'Wartungsarbeiten',
    headline: 'Wir führen geplante Wartungsarbeiten durch',
    detail: 'Die Website ist wegen geplanter Arbeiten gerade nicht erreichbar und bald wieder da.',
    until: 'Wir sind voraussichtlich am {time} wieder da.',
    overrun: 'Es dauert länger als geplant. Wir sind so bald wie möglich wieder da.',
  },
};

// French typography puts a narrow no-break space (U+202F) before ':' and '?'.
const fr: Messages = {
  lang: 'fr',
  statuses: {
    '502': {
      title: 'Passerelle incorrecte',
      detail: 'Un serveur derrière ce site nous a renvoyé une réponse inutilisable.',
      headline: 'Un problème est survenu de notre côté',
    },
    '503': {
      title: 'Service indisponible',
      detail: 'Le service est surchargé ou en maintenance pour le moment.',
      headline: 'Nous sommes un peu débordés',
    },
    '504': {
      title: 'Délai de passerelle dépassé',
      detail: 'Un serveur derrière ce site n’a pas répondu à temps.',
      headline: 'Cela a pris trop de temps',
    },
    '429': {
      title: 'Trop de requêtes',
      detail: 'Nous avons reçu plus de demandes de votre part que nous ne pouvons en traiter pour l’instant.',
      headline: 'Merci de ralentir un peu',
    },
    '500': {
      title: 'Erreur interne du serveur',
      detail: 'Un problème est survenu de notre côté pendant le traitement de votre demande.',
      headline: 'Quelque chose s’est cassé de notre côté',
    },
  },
  reference: 'Référence',
  referenceHint: 'Si vous contactez l’assistance, indiquez cette référence.',
  time: 'Heure',
  status: 'Code d’erreur',
  notYourFault: 'Ce n’est pas de votre faute\u202f: votre appareil et votre connexion fonctionnent correctement.',
  whatNow: 'Que faire\u202f?',
  retryIn: 'Réessayez dans {seconds} secondes.',
  retryInMinutes: 'Réessayez dans environ {minutes} minutes.',
  retryNow: 'Vous pouvez réessayer dès maintenant.',
  retryLater: 'Patientez un instant, puis réessayez.',
  autoRefresh: 'Cette page se rechargera d’elle-même.',
  reloadingIn: 'Rechargement dans',
  stopReload: 'Ne pas recharger',
  warning: 'Important\u202f:',
  mayHaveGoneThrough:
    'Votre demande a peut-être déjà été prise en compte. Avant de la renvoyer, vérifiez si elle a abouti (par exemple grâce à une confirmation ou à l’historique de vos commandes), pour qu’elle ne soit pas traitée deux fois.',
  reload: 'Réessayer',
  statusPage: 'État du service',
  support: 'Contacter l’assistance',
  home: 'Aller à l’accueil',
  defaultBrandName: 'Ce site',
  technicalDetails: 'Détails techniques',
  maintenance: {
    title: 'En maintenance',
    headline: 'Nous effectuons une maintenance programmée',
    detail: 'Le site est arrêté pour des travaux programmés et sera bientôt de retour.',
    until: 'Retour prévu le {time}.',
    overrun: 'Cela prend plus de temps que prévu. Nous revenons dès que possible.',
  },
};

const ja: Messages = {
  lang: 'ja',
  statuses: {
    '502': {
      title: '不正なゲートウェイ',
      detail: 'このサイトの裏側にあるサーバーから、処理できない応答が返ってきました。',
      headline: 'こちら側で問題が発生しました',
    },
    '503': {
      title: 'サービス利用不可',
      detail: 'ただいまサービスが混み合っているか、メンテナンス中です。',
      headline: 'ただいま混み合っています',
    },
    '504': {
      title: 'ゲートウェイタイムアウト',
      detail: 'このサイトの裏側にあるサーバーから、時間内に応答がありませんでした。',
      headline: '応答に時間がかかりすぎました',
    },
    '429': {
      title: 'リクエストが多すぎます',
      detail: '現在処理できる数を超えるリクエストを受け取りました。',
      headline: '少し時間をおいてください',
    },
    '500': {
      title: 'サーバー内部エラー',
      detail: 'リクエストの処理中に、こちら側で問題が発生しました。',
      headline: 'こちら側で不具合が発生しました',
    },
  },
  reference: '参照番号',
  referenceHint: 'サポートへお問い合わせの際は、この参照番号をお伝えください。',
  time: '日時',
  status: 'エラーコード',
  notYourFault: 'お客様の操作や端末、通信環境に問題はありません。',
  whatNow: 'お試しいただけること',
  retryIn: '{seconds}秒後にもう一度お試しください。',
  retryInMinutes: '約{minutes}分後にもう一度お試しください。',
  retryNow: '今すぐもう一度お試しいただけます。',
  retryLater: 'しばらく待ってから、もう一度お試しください。',
  autoRefresh: 'このページは自動的に再読み込みされます。',
  reloadingIn: '再読み込みまで',
  stopReload: '再読み込みしない',
  warning: 'ご注意：',
  mayHaveGoneThrough:
    'お客様のリクエストはすでに処理されている可能性があります。二重に処理されないよう、もう一度送信する前に、確認メールや注文履歴などで結果をご確認ください。',
  reload: 'もう一度試す',
  statusPage: 'サービスの稼働状況',
  support: 'サポートに問い合わせる',
  home: 'トップページへ',
  defaultBrandName: 'このサイト',
  technicalDetails: '技術的な詳細',
  maintenance: {
    title: 'メンテナンス中',
    headline: '計画メンテナンスを行っています',
    detail: 'ただいま計画的な作業のため、サービスを停止しています。まもなく再開します。',
    until: '{time}ごろに再開する予定です。',
    overrun: '予定より時間がかかっています。できるだけ早く再開します。',
  },
};

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The languages shipped with the package; English is the fallback for every missing key. */
export const BUILTIN_LOCALES: Readonly<Record<string, Messages>> = deepFreeze({ en, es, de, fr, ja });

export interface Catalog {
  /** Every language the catalog can answer in; `languages[0] === 'en'`. Feed this to negotiation. */
  readonly languages: readonly string[];
  /**
   * Messages for a language tag: exact match (case-insensitive), else its primary subtag
   * (`es-MX` -> `es`), else English. Never throws.
   */
  get(lang: string): Messages;
}

/** A pragmatic BCP 47 shape check: enough to keep garbage out of `<html lang>` and headers. */
export const LANG_TAG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;

const STATUS_KEYS: readonly StatusKey[] = ['502', '503', '504', '429', '500'];
const MAINTENANCE_FIELDS: readonly (keyof MaintenanceMessages)[] = ['title', 'headline', 'detail', 'until', 'overrun'];
const STATUS_FIELDS: readonly (keyof StatusMessages)[] = ['title', 'detail', 'headline'];
const TEXT_KEYS = (Object.keys(en) as (keyof Messages)[]).filter(
  (key): key is Exclude<keyof Messages, 'lang' | 'statuses' | 'maintenance'> =>
    key !== 'lang' && key !== 'statuses' && key !== 'maintenance',
);

function expectString(value: unknown, name: string): string {
  if (typeof value !== 'string') fail(name, 'a string', value);
  return value;
}

/** Merge one language's deep-partial override onto a base, naming the first bad key. */
function mergeLanguage(base: Messages, override: unknown, lang: string, option: string): Messages {
  const where = `${option}.${lang}`;
  checkObject(where, override, 'an object of messages');
  const merged: Messages = { ...base, lang, statuses: { ...base.statuses } };
  for (const [key, value] of Object.entries(override as Record<string, unknown>)) {
    if (key === 'lang') {
      // The catalog key is the language; a contradicting `lang` would mislabel the page.
      if (value !== undefined && expectString(value, `${where}.lang`).toLowerCase() !== lang.toLowerCase()) {
        fail(`${where}.lang`, `'${lang}' (the key it is filed under)`, value);
      }
    } else if (key === 'statuses') {
      checkKeys(`${where}.statuses`, checkObject(`${where}.statuses`, value), STATUS_KEYS);
      for (const [status, words] of Object.entries(value as Record<string, unknown>)) {
        checkKeys(`${where}.statuses.${status}`, checkObject(`${where}.statuses.${status}`, words), STATUS_FIELDS);
        const next = { ...merged.statuses[status as StatusKey] };
        for (const [field, text] of Object.entries(words as Record<string, unknown>)) {
          next[field as keyof StatusMessages] = expectString(text, `${where}.statuses.${status}.${field}`);
        }
        merged.statuses[status as StatusKey] = next;
      }
    } else if (key === 'maintenance') {
      checkKeys(`${where}.maintenance`, checkObject(`${where}.maintenance`, value), MAINTENANCE_FIELDS);
      const next = { ...merged.maintenance };
      for (const [field, text] of Object.entries(value as Record<string, unknown>)) {
        next[field as keyof MaintenanceMessages] = expectString(text, `${where}.maintenance.${field}`);
      }
      merged.maintenance = next;
    } else if ((TEXT_KEYS as readonly string[]).includes(key)) {
      (merged as unknown as Record<string, string>)[key] = expectString(value, `${where}.${key}`);
    } else {
      // Loud on typos: a misspelt key would otherwise silently show English.
      checkKeys(where, { [key]: value }, ['lang', 'statuses', 'maintenance', ...TEXT_KEYS]);
    }
  }
  return deepFreeze(merged);
}

/**
 * Build the message catalog once, at setup. `overrides` maps language tags to deep-partial
 * messages: a new tag adds a language (missing keys fall back to English), an existing one
 * overrides single keys. Throws a TypeError naming the bad key on a wrong shape.
 *
 * @param option the user-facing option name used in error messages.
 */
export function createCatalog(overrides?: Record<string, unknown>, option = 'locales'): Catalog {
  const table = new Map<string, Messages>();
  for (const [lang, messages] of Object.entries(BUILTIN_LOCALES)) table.set(lang, messages);
  if (overrides !== undefined) {
    checkObject(option, overrides, 'an object keyed by language tag');
    for (const [tag, override] of Object.entries(overrides)) {
      if (!LANG_TAG.test(tag)) fail(option, "an object keyed by BCP 47 language tags such as 'pt-BR'", tag);
      const key = tag.toLowerCase();
      const base = table.get(key) ?? en;
      table.set(key, mergeLanguage(base, override, base === en && key !== 'en' ? tag : base.lang, option));
    }
  }
  const languages = Object.freeze(['en', ...[...table.values()].map((m) => m.lang).filter((l) => l !== 'en')]);
  return Object.freeze({
    languages,
    get(lang: string): Messages {
      if (typeof lang !== 'string') return table.get('en')!;
      const key = lang.toLowerCase();
      return table.get(key) ?? table.get(key.split('-')[0] ?? '') ?? table.get('en')!;
    },
  });
}

/**
 * Replace `{name}` placeholders. Unknown placeholders stay as they are, so a translation with a
 * typo shows `{secnds}` rather than crashing the error page.
 */
export function interpolate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (whole, name: string) =>
    Object.hasOwn(values, name) ? String(values[name]) : whole,
  );
}
