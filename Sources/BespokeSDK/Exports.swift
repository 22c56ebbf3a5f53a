// A tenant service imports only `BespokeSDK`: the CloudEvent, JSON and UI slot types and the
// webhook secrets it works with come along.
@_exported public import BespokeCore
@_exported public import BespokeWebhooks
