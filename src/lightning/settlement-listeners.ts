/**
 * The listener list behind every backend's `onSettled`: a throwing listener is
 * reported and never stops the others nor the backend's stream.
 */
import type { InvoiceStatus } from '../core/types.js';

/** A set of settlement listeners. */
export class SettlementListeners {
  readonly #listeners = new Set<(status: InvoiceStatus) => void>();
  readonly #onListenerError: (error: unknown) => void;

  /**
   * @param onListenerError - called with what a listener threw; by default a process warning
   */
  constructor(onListenerError?: (error: unknown) => void) {
    this.#onListenerError =
      onListenerError ?? ((error) => process.emitWarning(`onSettled listener threw: ${String(error)}`, { code: 'L402_LISTENER' }));
  }

  /**
   * Adds a listener.
   * @param listener - called with each settled invoice
   * @returns a function that removes it
   */
  add(listener: (status: InvoiceStatus) => void): () => void {
    // Wrap so that registering the same function twice gives two registrations.
    const entry = (status: InvoiceStatus): void => listener(status);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /**
   * Calls every listener with a settlement.
   * @param status - the settled invoice
   */
  emit(status: InvoiceStatus): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(status);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}
