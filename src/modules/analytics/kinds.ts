import type { AnalyticsKind } from '../../store/analytics.js';
import type { SesEvent } from '../events/parse.js';

/**
 * What an SES event counts as; null for events that are not counted (Send: Sesame counts a send
 * when SES accepts the message; Subscription). Migration 019 fills the history with the same rules.
 */
export function kindOfEvent(e: Pick<SesEvent, 'kind' | 'bounce'>): AnalyticsKind | null {
  switch (e.kind) {
    case 'delivery':
      return 'delivered';
    case 'bounce':
      if (e.bounce?.type === 'Permanent') return 'bounced_permanent';
      if (e.bounce?.type === 'Transient') return 'bounced_transient';
      return 'bounced_undetermined';
    case 'complaint':
      return 'complained';
    case 'reject':
    case 'rendering_failure':
      return 'rejected';
    case 'delivery_delay':
      return 'delayed';
    case 'open':
      return 'opened';
    case 'click':
      return 'clicked';
    default:
      return null;
  }
}
