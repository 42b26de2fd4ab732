// The mini-program: sign-in happens on the home page (pages/index), everything else through
// utils/api.js. Nothing is kept here: pages read the session from utils/auth.js.
App({})
