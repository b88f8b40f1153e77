# Sourced by test.sh and first-hour.sh. lab_netns sets LAB_NETNS to a command that runs its arguments
# in a new private network namespace (where lab/lab.sh may build the lab): `unshare -n` as root,
# `unshare -rn` (inside a user namespace) otherwise. Returns 1 when neither works here.
lab_netns() {
  if [[ $EUID -eq 0 ]] && unshare -n true 2>/dev/null; then
    LAB_NETNS=(unshare -n)
  elif unshare -rn true 2>/dev/null; then
    LAB_NETNS=(unshare -rn)
  else
    return 1
  fi
}
