#include <stdio.h>

int main(void) {
  puts("Hello from nsbuild");
  return 0;
}
