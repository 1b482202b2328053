// Stripe.js, for paying a top-up's PaymentIntent in the browser: the card number goes from
// Stripe's own iframe (the Card Element) to Stripe, never through the app or Agora. Stripe wants
// the script loaded from js.stripe.com, not bundled; only the few calls the app makes are typed.

/** The Card Element: Stripe's iframe with the card fields. */
export type CardElement = {
  mount(container: HTMLElement): void;
  destroy(): void;
};

type PaymentResult = {
  /** The customer's card was declined, or Stripe refused: its message is for the customer. */
  error?: { message?: string };
  paymentIntent?: { id: string; status: string };
};

export type StripeJs = {
  elements(): { create(type: 'card'): CardElement };
  confirmCardPayment(clientSecret: string, data: { payment_method: { card: CardElement } }): Promise<PaymentResult>;
};

declare global {
  interface Window {
    Stripe?: (publishableKey: string) => StripeJs;
  }
}

let script: Promise<NonNullable<Window['Stripe']>> | null = null;
const instances = new Map<string, StripeJs>();

/** Stripe.js for `publishableKey`: the script is added once, and each key gets one instance. */
export async function loadStripe(publishableKey: string): Promise<StripeJs> {
  script ??= new Promise((resolve, reject) => {
    const tag = document.createElement('script');
    tag.src = 'https://js.stripe.com/v3/';
    tag.async = true;
    tag.onload = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error('Stripe.js loaded without Stripe()')));
    tag.onerror = () => {
      // The next attempt (another visit to the page) adds the script again.
      tag.remove();
      script = null;
      reject(new Error('Stripe.js could not be loaded'));
    };
    document.head.append(tag);
  });
  const Stripe = await script;
  let stripe = instances.get(publishableKey);
  if (!stripe) {
    stripe = Stripe(publishableKey);
    instances.set(publishableKey, stripe);
  }
  return stripe;
}
