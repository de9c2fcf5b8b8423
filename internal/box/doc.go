// Package box is filesight's one client for the Box API (and for localbox,
// which speaks the same API): client-credentials auth with a cached parent
// token, downscoped per-file tokens and their revocation, files, folders,
// metadata (create-or-patch), skills cards and webhooks, plus verification of
// Box's signed webhook deliveries.
//
// Base URLs are configurable, so the same code talks to api.box.com /
// upload.box.com and to localbox. Errors are typed (*Error) and classified as
// retryable or not; retrying is left to the caller (Temporal activities).
// Tokens are secret.String values and never appear in errors or logs.
package box
