//! Deeply nested code: `if`s 70 deep (each branch's record used to nest its type once per level,
//! and rustc stopped at about 64) and loops 12 deep (each loop body used to be lowered twice, so
//! nested bodies exponentially often). Written out by a script; checked against the formula.
#![allow(clippy::collapsible_else_if)]

mod common;

use autodiff_core::differentiate;
use common::{assert_close, assert_gradient};

#[differentiate]
fn deep_ifs(x: f64, y: f64) -> f64 {
    let mut s = x;
    if s > 0.0 {
        s = s * 1.01 + y;
        if s > 1.0 {
            s = s * 1.01 + y;
            if s > 2.0 {
                s = s * 1.01 + y;
                if s > 3.0 {
                    s = s * 1.01 + y;
                    if s > 4.0 {
                        s = s * 1.01 + y;
                        if s > 5.0 {
                            s = s * 1.01 + y;
                            if s > 6.0 {
                                s = s * 1.01 + y;
                                if s > 7.0 {
                                    s = s * 1.01 + y;
                                    if s > 8.0 {
                                        s = s * 1.01 + y;
                                        if s > 9.0 {
                                            s = s * 1.01 + y;
                                            if s > 10.0 {
                                                s = s * 1.01 + y;
                                                if s > 11.0 {
                                                    s = s * 1.01 + y;
                                                    if s > 12.0 {
                                                        s = s * 1.01 + y;
                                                        if s > 13.0 {
                                                            s = s * 1.01 + y;
                                                            if s > 14.0 {
                                                                s = s * 1.01 + y;
                                                                if s > 15.0 {
                                                                    s = s * 1.01 + y;
                                                                    if s > 16.0 {
                                                                        s = s * 1.01 + y;
                                                                        if s > 17.0 {
                                                                            s = s * 1.01 + y;
                                                                            if s > 18.0 {
                                                                                s = s * 1.01 + y;
                                                                                if s > 19.0 {
                                                                                    s = s * 1.01
                                                                                        + y;
                                                                                    if s > 20.0 {
                                                                                        s = s
                                                                                            * 1.01
                                                                                            + y;
                                                                                        if s > 21.0
                                                                                        {
                                                                                            s = s * 1.01 + y;
                                                                                            if s > 22.0 {
                                                                                                s = s * 1.01 + y;
                                                                                                if s > 23.0 {
                                                                                                    s = s * 1.01 + y;
                                                                                                    if s > 24.0 {
                                                                                                        s = s * 1.01 + y;
                                                                                                        if s > 25.0 {
                                                                                                            s = s * 1.01 + y;
                                                                                                            if s > 26.0 {
                                                                                                                s = s * 1.01 + y;
                                                                                                                if s > 27.0 {
                                                                                                                    s = s * 1.01 + y;
                                                                                                                    if s > 28.0 {
                                                                                                                        s = s * 1.01 + y;
                                                                                                                        if s > 29.0 {
                                                                                                                            s = s * 1.01 + y;
                                                                                                                            if s > 30.0 {
                                                                                                                                s = s * 1.01 + y;
                                                                                                                                if s > 31.0 {
                                                                                                                                    s = s * 1.01 + y;
                                                                                                                                    if s > 32.0 {
                                                                                                                                        s = s * 1.01 + y;
                                                                                                                                        if s > 33.0 {
                                                                                                                                            s = s * 1.01 + y;
                                                                                                                                            if s > 34.0 {
                                                                                                                                                s = s * 1.01 + y;
                                                                                                                                                if s > 35.0 {
                                                                                                                                                    s = s * 1.01 + y;
                                                                                                                                                    if s > 36.0 {
                                                                                                                                                        s = s * 1.01 + y;
                                                                                                                                                        if s > 37.0 {
                                                                                                                                                            s = s * 1.01 + y;
                                                                                                                                                            if s > 38.0 {
                                                                                                                                                                s = s * 1.01 + y;
                                                                                                                                                                if s > 39.0 {
                                                                                                                                                                    s = s * 1.01 + y;
                                                                                                                                                                    if s > 40.0 {
                                                                                                                                                                        s = s * 1.01 + y;
                                                                                                                                                                        if s > 41.0 {
                                                                                                                                                                            s = s * 1.01 + y;
                                                                                                                                                                            if s > 42.0 {
                                                                                                                                                                                s = s * 1.01 + y;
                                                                                                                                                                                if s > 43.0 {
                                                                                                                                                                                    s = s * 1.01 + y;
                                                                                                                                                                                    if s > 44.0 {
                                                                                                                                                                                        s = s * 1.01 + y;
                                                                                                                                                                                        if s > 45.0 {
                                                                                                                                                                                            s = s * 1.01 + y;
                                                                                                                                                                                            if s > 46.0 {
                                                                                                                                                                                                s = s * 1.01 + y;
                                                                                                                                                                                                if s > 47.0 {
                                                                                                                                                                                                    s = s * 1.01 + y;
                                                                                                                                                                                                    if s > 48.0 {
                                                                                                                                                                                                        s = s * 1.01 + y;
                                                                                                                                                                                                        if s > 49.0 {
                                                                                                                                                                                                            s = s * 1.01 + y;
                                                                                                                                                                                                            if s > 50.0 {
                                                                                                                                                                                                                s = s * 1.01 + y;
                                                                                                                                                                                                                if s > 51.0 {
                                                                                                                                                                                                                    s = s * 1.01 + y;
                                                                                                                                                                                                                    if s > 52.0 {
                                                                                                                                                                                                                        s = s * 1.01 + y;
                                                                                                                                                                                                                        if s > 53.0 {
                                                                                                                                                                                                                            s = s * 1.01 + y;
                                                                                                                                                                                                                            if s > 54.0 {
                                                                                                                                                                                                                                s = s * 1.01 + y;
                                                                                                                                                                                                                                if s > 55.0 {
                                                                                                                                                                                                                                    s = s * 1.01 + y;
                                                                                                                                                                                                                                    if s > 56.0 {
                                                                                                                                                                                                                                        s = s * 1.01 + y;
                                                                                                                                                                                                                                        if s > 57.0 {
                                                                                                                                                                                                                                            s = s * 1.01 + y;
                                                                                                                                                                                                                                            if s > 58.0 {
                                                                                                                                                                                                                                                s = s * 1.01 + y;
                                                                                                                                                                                                                                                if s > 59.0 {
                                                                                                                                                                                                                                                    s = s * 1.01 + y;
                                                                                                                                                                                                                                                    if s > 60.0 {
                                                                                                                                                                                                                                                        s = s * 1.01 + y;
                                                                                                                                                                                                                                                        if s > 61.0 {
                                                                                                                                                                                                                                                            s = s * 1.01 + y;
                                                                                                                                                                                                                                                            if s > 62.0 {
                                                                                                                                                                                                                                                                s = s * 1.01 + y;
                                                                                                                                                                                                                                                                if s > 63.0 {
                                                                                                                                                                                                                                                                    s = s * 1.01 + y;
                                                                                                                                                                                                                                                                    if s > 64.0 {
                                                                                                                                                                                                                                                                        s = s * 1.01 + y;
                                                                                                                                                                                                                                                                        if s > 65.0 {
                                                                                                                                                                                                                                                                            s = s * 1.01 + y;
                                                                                                                                                                                                                                                                            if s > 66.0 {
                                                                                                                                                                                                                                                                                s = s * 1.01 + y;
                                                                                                                                                                                                                                                                                if s > 67.0 {
                                                                                                                                                                                                                                                                                    s = s * 1.01 + y;
                                                                                                                                                                                                                                                                                    if s > 68.0 {
                                                                                                                                                                                                                                                                                        s = s * 1.01 + y;
                                                                                                                                                                                                                                                                                        if s > 69.0 {
                                                                                                                                                                                                                                                                                            s = s * 1.01 + y;
                                                                                                                                                                                                                                                                                            s = s.sin() * y;
                                                                                                                                                                                                                                                                                        } else {
                                                                                                                                                                                                                                                                                            s = s * x + y.cos();
                                                                                                                                                                                                                                                                                        }
                                                                                                                                                                                                                                                                                    } else {
                                                                                                                                                                                                                                                                                        s = s * x + y.cos();
                                                                                                                                                                                                                                                                                    }
                                                                                                                                                                                                                                                                                } else {
                                                                                                                                                                                                                                                                                    s = s * x + y.cos();
                                                                                                                                                                                                                                                                                }
                                                                                                                                                                                                                                                                            } else {
                                                                                                                                                                                                                                                                                s = s * x + y.cos();
                                                                                                                                                                                                                                                                            }
                                                                                                                                                                                                                                                                        } else {
                                                                                                                                                                                                                                                                            s = s * x + y.cos();
                                                                                                                                                                                                                                                                        }
                                                                                                                                                                                                                                                                    } else {
                                                                                                                                                                                                                                                                        s = s * x + y.cos();
                                                                                                                                                                                                                                                                    }
                                                                                                                                                                                                                                                                } else {
                                                                                                                                                                                                                                                                    s = s * x + y.cos();
                                                                                                                                                                                                                                                                }
                                                                                                                                                                                                                                                            } else {
                                                                                                                                                                                                                                                                s = s * x + y.cos();
                                                                                                                                                                                                                                                            }
                                                                                                                                                                                                                                                        } else {
                                                                                                                                                                                                                                                            s = s * x + y.cos();
                                                                                                                                                                                                                                                        }
                                                                                                                                                                                                                                                    } else {
                                                                                                                                                                                                                                                        s = s * x + y.cos();
                                                                                                                                                                                                                                                    }
                                                                                                                                                                                                                                                } else {
                                                                                                                                                                                                                                                    s = s * x + y.cos();
                                                                                                                                                                                                                                                }
                                                                                                                                                                                                                                            } else {
                                                                                                                                                                                                                                                s = s * x + y.cos();
                                                                                                                                                                                                                                            }
                                                                                                                                                                                                                                        } else {
                                                                                                                                                                                                                                            s = s * x + y.cos();
                                                                                                                                                                                                                                        }
                                                                                                                                                                                                                                    } else {
                                                                                                                                                                                                                                        s = s * x + y.cos();
                                                                                                                                                                                                                                    }
                                                                                                                                                                                                                                } else {
                                                                                                                                                                                                                                    s = s * x + y.cos();
                                                                                                                                                                                                                                }
                                                                                                                                                                                                                            } else {
                                                                                                                                                                                                                                s = s * x + y.cos();
                                                                                                                                                                                                                            }
                                                                                                                                                                                                                        } else {
                                                                                                                                                                                                                            s = s * x + y.cos();
                                                                                                                                                                                                                        }
                                                                                                                                                                                                                    } else {
                                                                                                                                                                                                                        s = s * x + y.cos();
                                                                                                                                                                                                                    }
                                                                                                                                                                                                                } else {
                                                                                                                                                                                                                    s = s * x + y.cos();
                                                                                                                                                                                                                }
                                                                                                                                                                                                            } else {
                                                                                                                                                                                                                s = s * x + y.cos();
                                                                                                                                                                                                            }
                                                                                                                                                                                                        } else {
                                                                                                                                                                                                            s = s * x + y.cos();
                                                                                                                                                                                                        }
                                                                                                                                                                                                    } else {
                                                                                                                                                                                                        s = s * x + y.cos();
                                                                                                                                                                                                    }
                                                                                                                                                                                                } else {
                                                                                                                                                                                                    s = s * x + y.cos();
                                                                                                                                                                                                }
                                                                                                                                                                                            } else {
                                                                                                                                                                                                s = s * x + y.cos();
                                                                                                                                                                                            }
                                                                                                                                                                                        } else {
                                                                                                                                                                                            s = s * x + y.cos();
                                                                                                                                                                                        }
                                                                                                                                                                                    } else {
                                                                                                                                                                                        s = s * x + y.cos();
                                                                                                                                                                                    }
                                                                                                                                                                                } else {
                                                                                                                                                                                    s = s * x + y.cos();
                                                                                                                                                                                }
                                                                                                                                                                            } else {
                                                                                                                                                                                s = s * x + y.cos();
                                                                                                                                                                            }
                                                                                                                                                                        } else {
                                                                                                                                                                            s = s * x + y.cos();
                                                                                                                                                                        }
                                                                                                                                                                    } else {
                                                                                                                                                                        s = s * x + y.cos();
                                                                                                                                                                    }
                                                                                                                                                                } else {
                                                                                                                                                                    s = s * x + y.cos();
                                                                                                                                                                }
                                                                                                                                                            } else {
                                                                                                                                                                s = s * x + y.cos();
                                                                                                                                                            }
                                                                                                                                                        } else {
                                                                                                                                                            s = s * x + y.cos();
                                                                                                                                                        }
                                                                                                                                                    } else {
                                                                                                                                                        s = s * x + y.cos();
                                                                                                                                                    }
                                                                                                                                                } else {
                                                                                                                                                    s = s * x + y.cos();
                                                                                                                                                }
                                                                                                                                            } else {
                                                                                                                                                s = s * x + y.cos();
                                                                                                                                            }
                                                                                                                                        } else {
                                                                                                                                            s = s * x + y.cos();
                                                                                                                                        }
                                                                                                                                    } else {
                                                                                                                                        s = s * x + y.cos();
                                                                                                                                    }
                                                                                                                                } else {
                                                                                                                                    s = s * x + y.cos();
                                                                                                                                }
                                                                                                                            } else {
                                                                                                                                s = s * x + y.cos();
                                                                                                                            }
                                                                                                                        } else {
                                                                                                                            s = s * x + y.cos();
                                                                                                                        }
                                                                                                                    } else {
                                                                                                                        s = s * x + y.cos();
                                                                                                                    }
                                                                                                                } else {
                                                                                                                    s = s * x + y.cos();
                                                                                                                }
                                                                                                            } else {
                                                                                                                s = s * x + y.cos();
                                                                                                            }
                                                                                                        } else {
                                                                                                            s = s * x + y.cos();
                                                                                                        }
                                                                                                    } else {
                                                                                                        s = s * x + y.cos();
                                                                                                    }
                                                                                                } else {
                                                                                                    s = s * x + y.cos();
                                                                                                }
                                                                                            } else {
                                                                                                s = s * x + y.cos();
                                                                                            }
                                                                                        } else {
                                                                                            s = s * x + y.cos();
                                                                                        }
                                                                                    } else {
                                                                                        s = s * x + y.cos();
                                                                                    }
                                                                                } else {
                                                                                    s = s * x
                                                                                        + y.cos();
                                                                                }
                                                                            } else {
                                                                                s = s * x + y.cos();
                                                                            }
                                                                        } else {
                                                                            s = s * x + y.cos();
                                                                        }
                                                                    } else {
                                                                        s = s * x + y.cos();
                                                                    }
                                                                } else {
                                                                    s = s * x + y.cos();
                                                                }
                                                            } else {
                                                                s = s * x + y.cos();
                                                            }
                                                        } else {
                                                            s = s * x + y.cos();
                                                        }
                                                    } else {
                                                        s = s * x + y.cos();
                                                    }
                                                } else {
                                                    s = s * x + y.cos();
                                                }
                                            } else {
                                                s = s * x + y.cos();
                                            }
                                        } else {
                                            s = s * x + y.cos();
                                        }
                                    } else {
                                        s = s * x + y.cos();
                                    }
                                } else {
                                    s = s * x + y.cos();
                                }
                            } else {
                                s = s * x + y.cos();
                            }
                        } else {
                            s = s * x + y.cos();
                        }
                    } else {
                        s = s * x + y.cos();
                    }
                } else {
                    s = s * x + y.cos();
                }
            } else {
                s = s * x + y.cos();
            }
        } else {
            s = s * x + y.cos();
        }
    } else {
        s = s * x + y.cos();
    }
    s
}

/// `deep_ifs` for a point where the `k`-th condition is the first that fails.
fn deep_ifs_formula(x: f64, y: f64) -> (f64, f64, f64) {
    let (mut s, mut ds_dx, mut ds_dy) = (x, 1.0, 0.0);
    let mut k = 0;
    while k < 70 && s > k as f64 {
        s = s * 1.01 + y;
        ds_dx *= 1.01;
        ds_dy = ds_dy * 1.01 + 1.0;
        k += 1;
    }
    if k == 70 {
        return (
            s.sin() * y,
            ds_dx * s.cos() * y,
            ds_dy * s.cos() * y + s.sin(),
        );
    }
    (s * x + y.cos(), ds_dx * x + s, ds_dy * x - y.sin())
}

#[test]
fn ifs_nested_seventy_deep() {
    for (x, y) in [(-0.5, 0.3), (0.5, 0.7), (3.2, 1.1), (80.0, 0.01)] {
        let (value, (dx, dy)) = deep_ifs_grad(x, y);
        assert_eq!(value.to_bits(), deep_ifs(x, y).to_bits());
        let (v, ex, ey) = deep_ifs_formula(x, y);
        assert_close(value, v, 1e-12);
        assert_close(dx, ex, 1e-12);
        assert_close(dy, ey, 1e-12);
    }
}

#[differentiate]
fn deep_loops(x: f64) -> f64 {
    let mut s = x;
    for _ in 0..2 {
        for _ in 0..2 {
            for _ in 0..2 {
                for _ in 0..2 {
                    for _ in 0..2 {
                        for _ in 0..2 {
                            for _ in 0..2 {
                                for _ in 0..2 {
                                    for _ in 0..2 {
                                        for _ in 0..2 {
                                            for _ in 0..2 {
                                                for _ in 0..2 {
                                                    s = 0.5 * s + x * s.sin();
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    s
}

#[test]
fn loops_nested_twelve_deep() {
    for x in [-0.4, 0.3, 0.9] {
        let (value, dx) = deep_loops_grad(x);
        assert_eq!(value.to_bits(), deep_loops(x).to_bits());
        assert_gradient(|p| deep_loops(p[0]), &[x], &[dx], 1e-7);
    }
}
