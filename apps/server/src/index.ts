export {
  type CapturedEvent,
  type CaptureRejection,
  type CaptureRequest,
  type DecodedCapture,
  type DecodeLimits,
  decodeCaptureRequest,
} from './capture/decode-request.js'
